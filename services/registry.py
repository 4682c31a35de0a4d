"""The services of Huike, for the composition roots (the CLI, the embedded default, tests)."""

from __future__ import annotations

from services.identity.app import service as identity
from services.notifications.app import service as notifications
from services.records.app import service as records
from services.search.app import service as search
from services.workflows.app import service as workflows
from shared.db.migrations import migrate
from shared.service import ServiceSpec
from shared.settings import Settings

ALL_SERVICES: tuple[ServiceSpec, ...] = (identity, records, search, workflows, notifications)
BY_NAME: dict[str, ServiceSpec] = {s.name: s for s in ALL_SERVICES}


def app_role_of(settings: Settings) -> str:
    from urllib.parse import urlsplit

    return urlsplit(settings.database_url).username or "huike_app"


async def migrate_all(settings: Settings, services: tuple[ServiceSpec, ...] = ALL_SERVICES) -> list[str]:
    applied: list[str] = []
    for spec in services:
        applied += await migrate(settings.database_owner_url, spec.schema, spec.migrations_dir, app_role_of(settings))
    return applied
