"""One base URL in the cluster shape: every route of every service reaches the service that owns
it, through docker compose's nginx gateway (deploy/gateway.conf) and through the chart's Ingress.
The routes come from the code (each ServiceSpec's handlers, as `huike serve <name>` mounts them),
so a route added to a service without its prefix in both places fails here."""

from __future__ import annotations

import re
import uuid
from functools import cache

import pytest
import yaml

from services.registry import ALL_SERVICES, BY_NAME
from shared.http import create_app
from shared.runtime import Runtime
from shared.settings import load_settings
from tests.deploy.chart import MINIMAL, ROOT, component, manifests, merged, of_kind

# Answered by every service process; the gateway and the Ingress send them to identity.
EVERY_SERVICE = re.compile(r"^/(healthz|readyz|schema)(/|$)|^/api/v1/operator/dead-letters(/|$)")
# Answered by every service process for the pod network only (Prometheus): routed by neither.
POD_NETWORK_ONLY = re.compile(r"^/metrics$")
# Routes of services still landing on other branches (the notifications service; workflows'
# approvals and SLA settings): routed already, so the deployment is ready when they merge.
LANDING: dict[str, list[str]] = {
    "notifications": ["/api/v1/notifications", "/api/v1/notifications/{id:uuid}/read",
                      "/api/v1/notification-preferences", "/api/v1/notification-defaults",
                      "/api/v1/webhooks", "/api/v1/webhooks/{id:uuid}", "/api/v1/chat-robots",
                      "/api/v1/chat-robots/{id:uuid}"],
    "workflows": ["/api/v1/approvals", "/api/v1/approvals/{id:uuid}", "/api/v1/approval-templates",
                  "/api/v1/sla-policy", "/api/v1/business-calendar"],
}
SERVICES = sorted({s.name for s in ALL_SERVICES} | set(LANDING))


@cache
def routes() -> dict[str, list[str]]:
    """Service -> the path templates its own process serves (without the shared ones)."""
    settings = load_settings()
    out: dict[str, list[str]] = {name: list(paths) for name, paths in LANDING.items()}
    for spec in ALL_SERVICES:
        app = create_app(Runtime(settings, (spec,)), manage_runtime=False)
        out.setdefault(spec.name, []).extend(r.path for r in app.routes
                                             if not EVERY_SERVICE.match(r.path) and not POD_NETWORK_ONLY.match(r.path))
    return out


def concrete(template: str) -> str:
    """A request path for a route template: path parameters filled with values of their type."""
    samples = {"uuid": str(uuid.uuid4()), "int": "7", "str": "x", "path": "x/y"}
    return re.sub(r"\{[^}:]+(?::([a-z]+))?\}", lambda m: samples.get(m.group(1) or "str", "x"), template)


def every_request() -> list[tuple[str, str]]:
    return [(owner, concrete(path)) for owner, paths in routes().items() for path in paths]


# -- deploy/gateway.conf ---------------------------------------------------------------------------

@cache
def gateway_map() -> tuple[str, list[tuple[re.Pattern[str], str]]]:
    """The `map $uri $huike_service` of deploy/gateway.conf: its default and its regexes, in order."""
    text = (ROOT / "deploy" / "gateway.conf").read_text()
    body = re.search(r"map \$uri \$huike_service \{(.*?)\n\}", text, re.S)
    assert body, "deploy/gateway.conf has no `map $uri $huike_service` block"
    tokens = re.sub(r"#[^\n]*", "", body.group(1)).split()
    pairs = [(tokens[i], tokens[i + 1].rstrip(";")) for i in range(0, len(tokens), 2)]
    default = dict(pairs).pop("default")
    return default, [(re.compile(key[1:]), service) for key, service in pairs if key.startswith("~")]


def gateway_route(path: str) -> str:
    # nginx tries a map's regexes in the order they appear; the first match wins
    default, regexes = gateway_map()
    return next((service for regex, service in regexes if regex.search(path)), default)


def test_the_gateway_routes_every_route_to_its_service() -> None:
    wrong = [(path, owner, gateway_route(path)) for owner, path in every_request() if gateway_route(path) != owner]
    assert wrong == []


def test_the_gateway_sends_shared_and_unknown_paths_to_identity() -> None:
    for path in ("/healthz", "/readyz", "/schema/openapi.json", "/api/v1/operator/dead-letters",
                 "/api/v1/nothing-here", "/api/v1/searching"):
        assert gateway_route(path) == "identity", path


def test_the_gateway_refuses_metrics() -> None:
    """/metrics is for the compose network: the public port answers it 404 before the map applies."""
    text = (ROOT / "deploy" / "gateway.conf").read_text()
    block = re.search(r"location = /metrics \{(.*?)\}", text, re.S)
    assert block and "return 404" in block.group(1) and "proxy_pass" not in block.group(1)
    assert text.index("location = /metrics") < text.index("location / {")


def test_the_gateway_only_names_services_that_exist() -> None:
    default, regexes = gateway_map()
    assert {default} | {service for _, service in regexes} == set(SERVICES)


# -- the chart's Ingress ---------------------------------------------------------------------------

@cache
def ingress_paths() -> dict[str, str]:
    docs = manifests(merged(MINIMAL, {"ingress": {"enabled": True}}))
    (ingress,) = of_kind(docs, "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    return {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"] if p["pathType"] == "Prefix"}


def ingress_route(path: str) -> str | None:
    """Kubernetes' Prefix matching: element by element, the longest matching path wins."""
    parts = path.strip("/").split("/")
    best: tuple[int, str | None] = (-1, None)
    for prefix, service in ingress_paths().items():
        want = prefix.strip("/").split("/") if prefix != "/" else []
        if parts[:len(want)] == want and len(want) > best[0]:
            best = (len(want), service)
    return best[1]


def test_the_ingress_routes_every_route_to_its_service() -> None:
    wrong = [(path, owner, ingress_route(path)) for owner, path in every_request()
             if ingress_route(path) != component(owner)]
    assert wrong == []


def test_the_ingress_sends_shared_and_unknown_paths_to_identity() -> None:
    for path in ("/healthz", "/readyz", "/schema/openapi.json", "/api/v1/operator/dead-letters/7/replay",
                 "/api/v1/nothing-here"):
        assert ingress_route(path) == component("identity"), path


def test_the_ingress_does_not_route_metrics() -> None:
    assert ingress_route("/metrics") is None


def test_every_prefix_in_the_chart_belongs_to_a_route_of_its_service() -> None:
    # No stale or invented prefixes: each one is the start of a route its service serves.
    values = yaml.safe_load((ROOT / "helm" / "huike" / "values.yaml").read_text())
    assert sorted(values["services"]) == SERVICES
    for name, service in values["services"].items():
        for prefix in service["paths"]:
            if EVERY_SERVICE.match(prefix):
                assert name == "identity"
                continue
            assert any(concrete(r) == prefix or concrete(r).startswith(prefix + "/") for r in routes()[name]), \
                (name, prefix)


def test_every_registered_service_is_deployed_by_default() -> None:
    deployments = of_kind(manifests(MINIMAL), "Deployment")
    assert set(deployments) == {component(name) for name in SERVICES}
    assert set(BY_NAME) <= set(SERVICES)


@pytest.mark.parametrize("path", ["/api/v1/operator/search/reindex/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12,
                                  "/api/v1/operator/tenants"])
def test_operator_paths_go_to_the_service_that_serves_them(path: str) -> None:
    owner = "search" if "/search/" in path else "identity"
    assert gateway_route(path) == owner
    assert ingress_route(path) == component(owner)
