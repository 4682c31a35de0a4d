"""The data quality jobs for tests (``services/records/jobs_data_quality.py``): import the fixture
``data_quality_jobs`` into a test module. It starts a second set when the app starts one too; both
are safe together (scans are claimed once, the handover consumer is a durable pull consumer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.records.jobs_data_quality import DataQualityJobs, start_data_quality


@pytest.fixture
async def data_quality_jobs(runtime: Any) -> AsyncIterator[DataQualityJobs]:
    jobs = await start_data_quality(runtime)
    yield jobs
    await jobs.stop()
