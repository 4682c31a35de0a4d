"""The records service: customers and every trace of them (see README.md)."""

from __future__ import annotations

from pathlib import Path

from services.records.api import router
from services.records.commands import start_commands
from services.records.directory import start_directory
from services.records.jobs import start_index_upkeep, start_purge
from services.records.jobs_bulk import start_bulk_jobs
from services.records.jobs_data_quality import start_data_quality
from services.records.replay import start_replay
from services.records.tenant_purge import start_tenant_purge
from services.records.workload import start_workload
from shared.http.app import API_PREFIX
from shared.http.tenant_exports import tenant_export_router
from shared.service import ServiceSpec

service = ServiceSpec(
    name="records",
    migrations_dir=Path(__file__).parent / "db" / "migrations",
    route_handlers=[router(), tenant_export_router(API_PREFIX, "records")],
    starters=[start_directory, start_purge, start_index_upkeep, start_data_quality, start_replay, start_bulk_jobs, start_tenant_purge,
              start_commands, start_workload],
)
