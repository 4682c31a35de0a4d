"""The notifications service: outgoing webhooks and chat robots (the inbox, push and e-mail are
added by their own part of issue 15)."""

from __future__ import annotations

from pathlib import Path

from services.notifications.api import router
from services.notifications.delivery import start_delivery
from services.notifications.tenant_purge import start_tenant_purge
from shared.service import ServiceSpec

service = ServiceSpec(
    name="notifications",
    migrations_dir=Path(__file__).parent / "db" / "migrations",
    route_handlers=[router()],
    starters=[start_delivery, start_tenant_purge],
)
