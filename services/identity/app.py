"""The identity service: tenants and sign-up, users, departments, roles and permissions,
sessions and tokens, API keys, invitations, the security audit log and tenant lifecycle."""

from __future__ import annotations

from pathlib import Path

from services.identity.api import router
from services.identity.deletions import start_deletions
from services.identity.events import start_resolver
from services.identity.jobs import start_housekeeping
from shared.service import ServiceSpec

service = ServiceSpec(
    name="identity",
    migrations_dir=Path(__file__).parent / "db" / "migrations",
    route_handlers=[router()],
    starters=[start_resolver, start_housekeeping, start_deletions],
)
