"""Fixtures for notifications tests: ``invite`` (non-admin members) from identity's fixtures."""

from __future__ import annotations

from tests.identity.conftest import Member, bearer, eventually, invite  # noqa: F401 - fixtures

__all__ = ["Member", "bearer", "eventually"]
