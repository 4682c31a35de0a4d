"""The search HTTP API: one router."""

from __future__ import annotations

from litestar import Router

from services.search.api.admin import operator_reindex, reindex, reindex_status
from services.search.api.search import search
from shared.http.app import API_PREFIX


def router() -> Router:
    return Router(path=API_PREFIX, route_handlers=[search, reindex, reindex_status, operator_reindex])
