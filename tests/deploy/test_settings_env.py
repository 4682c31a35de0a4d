"""The chart and docker compose set only HUIKE_* variables the code reads (shared/settings.py),
with values it accepts, and every variable a service cannot start without."""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import ENV_PREFIX, Settings, SettingsError, load_settings
from tests.deploy.chart import CHART, CI_VALUES, MINIMAL, ROOT, ci_values, manifests, of_kind

READ_BY_CODE = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
# What `huike serve <name>` cannot do without (the embedded default would start otherwise).
SERVE_NEEDS = {"HUIKE_HOST", "HUIKE_PORT", "HUIKE_DATABASE_URL", "HUIKE_NATS_URL", "HUIKE_JWT_SECRET",
               "HUIKE_OPERATOR_TOKEN", "HUIKE_NATS_STREAM_REPLICAS", "HUIKE_SEARCH_ENGINE",
               "HUIKE_IMPORT_MAX_BYTES", "HUIKE_BULK_FILE_RETENTION_DAYS", "HUIKE_TRUSTED_PROXIES"}
MIGRATE_NEEDS = {"HUIKE_DATABASE_OWNER_URL", "HUIKE_DATABASE_URL"}


def test_settings_know_the_variables_this_test_relies_on() -> None:
    assert SERVE_NEEDS | MIGRATE_NEEDS | {"HUIKE_SEARCH_WORKERS"} <= READ_BY_CODE


# -- the chart ----------------------------------------------------------------------------------------

def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"] if doc["kind"] in ("Deployment", "Job") else doc["spec"]
    return spec["containers"]


def _environment(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The variables a container starts with: its envFrom ConfigMaps, then env (Secret values read)."""
    configmaps = of_kind(docs, "ConfigMap")
    secrets = of_kind(docs, "Secret")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        secret = secrets.get(ref["name"])
        if secret is None or ref["key"] not in secret.get("data", {}):
            assert ref.get("optional") or secret is None, f"{item['name']}: Secret {ref['name']} has no {ref['key']}"
            env[item["name"]] = "from-an-existing-secret"
            continue
        env[item["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return env


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_the_chart_sets_only_variables_the_code_reads(values_file: Path) -> None:
    docs = manifests(ci_values(values_file))
    set_by_chart = {k for cm in of_kind(docs, "ConfigMap").values() for k in cm.get("data", {})}
    set_by_chart |= {k for s in of_kind(docs, "Secret").values() for k in s.get("data", {})}
    for doc in [*of_kind(docs, "Deployment").values(), *of_kind(docs, "Job").values(), *of_kind(docs, "Pod").values()]:
        set_by_chart |= {e["name"] for c in _containers(doc) for e in c.get("env", [])}
    huike = {name for name in set_by_chart if name.startswith(ENV_PREFIX)}
    assert huike - READ_BY_CODE == set()
    assert {"HUIKE_SEARCH_ENGINE", "HUIKE_IMPORT_MAX_BYTES", "HUIKE_BULK_FILE_RETENTION_DAYS",
            "HUIKE_TRUSTED_PROXIES", "HUIKE_SEARCH_WORKERS"} <= huike


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_every_chart_container_gets_what_it_needs_with_values_the_code_accepts(
        values_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = manifests(ci_values(values_file))
    for name, deployment in of_kind(docs, "Deployment").items():
        (container,) = _containers(deployment)
        env = _environment(docs, container)
        assert SERVE_NEEDS <= env.keys(), (name, SERVE_NEEDS - env.keys())
        assert ("HUIKE_DATABASE_OWNER_URL" in env) == name.endswith("-identity")
        _load(monkeypatch, env)  # every value valid, as the process will read it
    (job,) = of_kind(docs, "Job").values()
    assert MIGRATE_NEEDS <= _environment(docs, _containers(job)[0]).keys()


def _load(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if value == "from-an-existing-secret":
            value = {"HUIKE_DATABASE_URL": "postgresql://a@b/c", "HUIKE_DATABASE_OWNER_URL": "postgresql://a@b/c"}.get(key, "x")
        monkeypatch.setenv(key, value)
    return load_settings()


def test_chart_settings_are_refused_when_the_code_would_refuse_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check above can fail: a bad CIDR slips past no one.
    env = _environment(manifests(MINIMAL), _containers(of_kind(manifests(MINIMAL), "Deployment")["huike-records"])[0])
    with pytest.raises(SettingsError, match="HUIKE_TRUSTED_PROXIES"):
        _load(monkeypatch, {**env, "HUIKE_TRUSTED_PROXIES": "10.0.0.0/8,gateway"})


# -- docker compose -------------------------------------------------------------------------------------

def _interpolate(text: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}: with every secret given as a placeholder."""
    def value(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        if op == ":-":
            return arg
        return "hex0123456789abcdef" if name != "HUIKE_IMAGE" else "huike:local"
    return re.sub(r"\$\{([A-Z0-9_]+)(:[-?])?([^}]*)\}", value, text)


def compose() -> dict[str, Any]:
    return yaml.safe_load(_interpolate((ROOT / "docker-compose.yml").read_text()))


def huike_containers() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose()["services"].items() if svc.get("image") == "huike:local"}


def test_compose_runs_every_service_without_profiles() -> None:
    services = compose()["services"]
    assert all("profiles" not in svc for svc in services.values())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    commands = {svc["command"][1] for svc in huike_containers().values() if svc["command"][0] == "serve"}
    assert commands == set(values["services"])
    assert huike_containers()["migrate"]["command"] == ["migrate"]


def test_compose_sets_only_variables_the_code_reads_and_everything_a_service_needs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, svc in huike_containers().items():
        env = {k: str(v) for k, v in svc["environment"].items()}
        assert {k for k in env if k.startswith(ENV_PREFIX)} - READ_BY_CODE == set(), name
        assert (MIGRATE_NEEDS if name == "migrate" else SERVE_NEEDS) <= env.keys(), name
        settings = _load(monkeypatch, env)
        assert settings.search_engine == "meilisearch" and settings.meilisearch_url == "http://meilisearch:7700"
        # the gateway is the one proxy believed
        gateway = compose()["services"]["gateway"]["networks"]["default"]["ipv4_address"]
        assert settings.trusted_proxies == [f"{gateway}/32"]
    assert huike_containers()["search"]["environment"]["HUIKE_SEARCH_WORKERS"] == "2"


def test_the_gateway_takes_an_import_the_service_would_take() -> None:
    conf = (ROOT / "deploy" / "gateway.conf").read_text()
    size = re.search(r"client_max_body_size (\d+)m;", conf)
    assert size, "deploy/gateway.conf sets no client_max_body_size in MiB"
    for svc in huike_containers().values():
        assert int(size.group(1)) * 1_048_576 > int(svc["environment"]["HUIKE_IMPORT_MAX_BYTES"])
    assert "proxy_request_buffering off;" in conf


def test_the_gateway_address_is_on_the_compose_network() -> None:
    doc = compose()
    subnet = ipaddress.ip_network(doc["networks"]["default"]["ipam"]["config"][0]["subnet"])
    assert ipaddress.ip_address(doc["services"]["gateway"]["networks"]["default"]["ipv4_address"]) in subnet
