"""Rendering the Helm chart in-process with Helm's own Go code (helm-python-sdk's libhelm_c): the
same template engine, values coalescing and values.schema.json check as `helm template`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "huike"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE, NAMESPACE = "huike", "crm"
# Enough to render: the Secret needs the two database URLs, the ConfigMap a NATS URL.
MINIMAL: dict[str, Any] = {
    "secrets": {"databaseUrl": "postgresql://huike_app:app@pg.internal:5432/huike",
                "databaseOwnerUrl": "postgresql://huike_owner:owner@pg.internal:5432/huike"},
    "externalNats": {"url": "nats://nats.internal:4222"},
}


def ci_values(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of value layers, later ones winning (as several `-f` files do)."""
    out: dict[str, Any] = {}
    for layer in layers:
        _merge(out, copy.deepcopy(layer))
    return out


def _merge(into: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def render(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path -> rendered text, as an install would render it. Raises helm's errors."""
    with helm.Chart.load(CHART) as chart:
        return chart.render(values=values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)


def manifests(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every Kubernetes object the chart makes (subcharts included), NOTES.txt left out."""
    docs: list[dict[str, Any]] = []
    for name, text in render(values).items():
        if name.endswith(".txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def of_kind(docs: list[dict[str, Any]], kind: str, *, own: bool = True) -> dict[str, dict[str, Any]]:
    """Objects of one kind by name; ``own``: only the Huike chart's (not the subcharts')."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind
            and (not own or d["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "huike")}


def render_error(values: dict[str, Any]) -> str:
    """The message a render with these values fails with (it must fail)."""
    try:
        render(values)
    except helm.HelmError as exc:
        return str(exc)
    raise AssertionError(f"rendering {values} succeeded; it should have failed")


def component(name: str) -> str:
    return f"{RELEASE}-{name}"
