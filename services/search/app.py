"""The search service: the search index of every tenant, kept from events; the search API."""

from __future__ import annotations

from pathlib import Path

from services.search.api import router
from services.search.building import start_builder
from services.search.directory import start_directory
from services.search.engines import start_engine
from services.search.indexer import start_indexer
from services.search.reindex import start_reconcile
from services.search.tenant_purge import start_tenant_purge
from shared.http.app import API_PREFIX
from shared.http.tenant_exports import tenant_export_router
from shared.service import ServiceSpec

service = ServiceSpec(
    name="search",
    migrations_dir=Path(__file__).parent / "db" / "migrations",
    route_handlers=[router(), tenant_export_router(API_PREFIX, "search")],
    starters=[start_engine, start_builder, start_directory, start_indexer, start_reconcile, start_tenant_purge],
)
