"""The Litestar app factory shared by every service and by the embedded all-in-one process.

``create_app(runtime)`` serves the routes of every service in ``runtime.services`` behind one
port: one OpenAPI document, one error model, one authentication middleware, health endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

from shared import i18n
from shared.auth import AuthMiddleware, Principal, principal_of
from shared.errors import NotFound, Problem, language_of, problem_from_exception, problem_response
from shared.http.console import console_handlers
from shared.http.dead_letters import dead_letter_router
from shared.http.guard import InputGuard
from shared.http.openapi import finish_document
from shared.http.tracing import RequestTracing
from shared.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware, count_unmatched
from shared.runtime import Runtime
from shared.service import ServiceSpec
from shared.unavailable import RETRY_AFTER_SECONDS
from shared.validation import check_body

API_PREFIX = "/api/v1"
# Paths the authentication middleware never checks (besides routes marked exclude_from_auth).
PUBLIC_PATHS = ("/schema", "/healthz", "/readyz", "/metrics")
_JSON_METHODS = {"POST", "PUT", "PATCH"}


@get("/healthz", exclude_from_auth=True, include_in_schema=True, tags=["operations"], sync_to_thread=False)
def healthz() -> dict[str, str]:
    """Liveness: the process is up."""
    return {"status": "ok"}


@get("/readyz", exclude_from_auth=True, tags=["operations"])
async def readyz(request: Request[Any, Any, Any]) -> Any:
    """Readiness: 200 only when this process can do its work now: a write to the database
    commits, NATS is connected, the data volume has room (where checked), the embedded servers
    run (where embedded) and every service of this process is started."""
    runtime: Runtime = request.app.state.runtime
    checks = await runtime.readiness()
    if all(checks.values()):
        return {"status": "ready", "checks": checks}
    failing = ", ".join(name for name, ok in checks.items() if not ok)
    return problem_response(503, "not-ready", "Not ready", f"Not ready: {failing}", extra={"checks": checks},
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, language=language_of(request))


@get("/metrics", exclude_from_auth=True, include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus metrics of this process (shared/metrics.py); for the pod network only. The
    gateway answers it 404 itself; the Ingress's catch-all "/" (the web console) would reach it,
    so a request that came through a proxy (it carries a forwarding header) is answered 404 here."""
    if any(h in request.headers for h in ("x-forwarded-for", "x-real-ip", "forwarded")):
        raise NotFound("No such path: /metrics")
    text = await request.app.state.metrics.render(request.app.state.runtime)
    return Response(text, media_type=CONTENT_TYPE)


async def _check_request_body(request: Request[Any, Any, Any]) -> None:
    """415 for a body that is not JSON on a JSON route (routes may declare opt accepts=...); then
    the one body check of every typed JSON body (``shared.validation.check_body``)."""
    if request.method not in _JSON_METHODS:
        return
    if request.headers.get("content-length") in (None, "0") and "transfer-encoding" not in request.headers:
        await check_body(request)  # no body: 422 naming it when the route needs one
        return
    accepts = request.route_handler.opt.get("accepts", "application/json")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if accepts == "application/json":
        ok = media_type == "application/json" or media_type.endswith("+json")
    else:
        ok = media_type == accepts
    if not ok:
        got = media_type or "no Content-Type"
        raise Problem(
            i18n.detail("unsupported-media-type", language_of(request), f"Send this body as {accepts} (got {got})",
                        accepts=accepts, got=got),
            status_code=415, kind="unsupported-media-type", title="Unsupported media type",
        )
    await check_body(request)


def _runtime_dependency(request: Request[Any, Any, Any]) -> Runtime:
    return request.app.state.runtime


def _principal_dependency(request: Request[Any, Any, Any], runtime: NamedDependency[Any]) -> Principal:
    """``principal_of``, one level after ``runtime``: Litestar resolves the dependencies of one
    level concurrently, in an anyio task group per request, which cost more than the two cheap
    functions (about 5 % of a small request's CPU; litestar issue #4563). Depending on ``runtime``
    makes every level a single dependency, resolved directly."""
    del runtime
    return principal_of(request)


def create_app(runtime: Runtime, *, manage_runtime: bool = True,
               documented: Sequence[ServiceSpec] | None = None) -> Litestar:
    """Build the app. With ``manage_runtime`` the app's lifespan starts and stops the runtime.

    ``documented``: the services whose routes ``/schema`` documents, when the process serves fewer
    (``huike serve records``). In a cluster the gateway sends ``/schema`` to any one service, so
    each answers the whole API's document, the same one the embedded default serves."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if manage_runtime:
            await runtime.start()
        try:
            yield
        finally:
            if manage_runtime:
                await runtime.stop()

    handlers: list[Any] = [healthz, readyz, metrics, service_document, dead_letter_router(API_PREFIX)]
    for spec in runtime.services:
        handlers.extend(spec.route_handlers)
    settings = runtime.settings
    handlers.extend(console_handlers(settings.console_dir))  # the web console at /, when built
    names = ", ".join(s.name for s in runtime.services)
    measured = Metrics()
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        state=State({"runtime": runtime, "metrics": measured}),
        dependencies={"principal": Provide(_principal_dependency, sync_to_thread=False),
                      "runtime": Provide(_runtime_dependency, sync_to_thread=False)},
        # The input guard runs first: hostile input is refused before authentication costs anything.
        # Metrics outermost: they see every answer, the guard's refusals and problem+json errors too.
        middleware=[DefineMiddleware(MetricsMiddleware, metrics=measured),
                    DefineMiddleware(InputGuard, max_body=settings.max_request_bytes),
                    DefineMiddleware(AuthMiddleware, exclude=list(PUBLIC_PATHS))],
        before_request=_check_request_body,
        exception_handlers={Exception: problem_from_exception},
        after_exception=[count_unmatched(measured)],
        request_max_body_size=settings.max_request_bytes,
        logging_config=None,  # shared.telemetry.setup_logging owns logging: JSON lines with trace ids
        # No child span per ASGI send/receive message: an SSE stream sends one message per event,
        # and 1,000 open streams made span creation the largest CPU cost of the notifications
        # process (services/notifications/README.md). The request's server span keeps the status.
        plugins=[OpenTelemetryPlugin(OpenTelemetryConfig(exclude_spans=["send", "receive"],
                                                          middleware_class=RequestTracing))],
        openapi_config=OpenAPIConfig(
            title="Huike CRM API",
            version="1.0.0",
            description=f"The Huike (汇客) CRM API. Services in this process: {names}.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        debug=False,
    )
    finish_document(app, PUBLIC_PATHS)  # problem+json errors, security per operation
    app.state.service_document = app.openapi_schema  # this process's own routes only
    if documented is not None and [s.name for s in documented] != [s.name for s in runtime.services]:
        _document_whole_api(app, runtime, documented)
    return app


def _document_whole_api(app: Litestar, runtime: Runtime, documented: Sequence[ServiceSpec]) -> None:
    """Serve at ``/schema`` the document of an app made of every ``documented`` service, built
    exactly as the embedded default builds its own (the code of every service ships in one image).
    It is only documented: this process still routes only its own services."""
    whole = create_app(Runtime(runtime.settings, documented), manage_runtime=False).openapi_schema
    plugin = app.plugins.get(OpenAPIPlugin)
    # Litestar builds the document lazily into these two attributes and serves what they hold.
    plugin._openapi = whole  # noqa: SLF001
    plugin._openapi_schema = None  # noqa: SLF001


@get("/schema/service.json", exclude_from_auth=True, include_in_schema=False, sync_to_thread=False)
def service_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The OpenAPI document of this process's own routes (``/schema/openapi.json`` is the whole API's)."""
    return request.app.state.service_document.to_schema()


__all__ = ["API_PREFIX", "PUBLIC_PATHS", "create_app", "MediaType"]
