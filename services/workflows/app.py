"""The workflows service: automation rules, durable timers on a business calendar, approvals."""

from __future__ import annotations

from pathlib import Path

from services.workflows.api import router
from services.workflows.backfill import start_backfill
from services.workflows.directory import start_directory
from services.workflows.engine import start_engine
from services.workflows.tenant_purge import start_tenant_purge
from services.workflows.timekeeping import start_timekeeping
from services.workflows.triggers import start_triggers
from shared.http.app import API_PREFIX
from shared.http.tenant_exports import tenant_export_router
from shared.service import ServiceSpec

service = ServiceSpec(
    name="workflows",
    migrations_dir=Path(__file__).parent / "db" / "migrations",
    route_handlers=[router(), tenant_export_router(API_PREFIX, "workflows")],
    starters=[start_directory, start_triggers, start_timekeeping, start_engine, start_tenant_purge, start_backfill],
)
