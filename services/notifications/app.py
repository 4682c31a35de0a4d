"""The notifications service: the in-app inbox, real-time push (SSE), e-mail, preferences, and
signed outgoing webhooks and chat robots for tenants' programs and groups."""

from __future__ import annotations

from pathlib import Path

from services.notifications.api import router
from services.notifications.delivery import start_delivery
from services.notifications.tenant_purge import start_tenant_purge
from services.notifications.workers import start_notifications
from shared.http.app import API_PREFIX
from shared.http.tenant_exports import tenant_export_router
from shared.service import ServiceSpec

service = ServiceSpec(
    name="notifications",
    migrations_dir=Path(__file__).parent / "db" / "migrations",
    route_handlers=[router(), tenant_export_router(API_PREFIX, "notifications")],
    starters=[start_notifications, start_delivery, start_tenant_purge],
)
