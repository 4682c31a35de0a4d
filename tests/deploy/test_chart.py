"""The Helm chart renders, lints and validates against Kubernetes' schemas, and its values say
what they mean: the search pod's memory follows its worker count, the Ingress takes an import,
Meilisearch is used when configured, contradictions and typos fail at render with one line."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.deploy.chart import (
    CHART,
    CI_VALUES,
    MINIMAL,
    ci_values,
    component,
    manifests,
    merged,
    of_kind,
    render_error,
)

KUBERNETES = ("1.30.0", "1.37.0")  # the oldest and newest versions the chart is checked against
CRDS = {"ServiceMonitor", "PodMonitor"}  # Prometheus Operator kinds: not in Kubernetes' schemas


def test_default_values_fail_with_one_line_saying_what_to_set() -> None:
    # Without servers to point at, an install cannot work: it says which value to give.
    message = render_error({})
    assert "secrets.databaseUrl (or secrets.existingSecret) is required" in message
    assert "\n" not in message.strip()


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
@pytest.mark.parametrize("version", KUBERNETES)
def test_ci_values_render_to_valid_kubernetes_objects(values_file: Path, version: str) -> None:
    docs = manifests(ci_values(values_file))
    checked = 0
    for doc in docs:
        if doc["kind"] in CRDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        # strict: a misspelt or misplaced field is an error, as `kubectl apply --validate=strict` says
        kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_ci_values_pass_helm_lint_strict(values_file: Path) -> None:
    for version in KUBERNETES:
        report = helm.lint(CHART, ci_values(values_file), strict=True, namespace="crm", kube_version=f"v{version}")
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert report["errors"] == [] and problems == [], report


def test_every_service_runs_hardened_with_probes() -> None:
    docs = manifests(ci_values(CHART / "ci" / "bundled-values.yaml"))
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == {component(n) for n in ("identity", "records", "search", "workflows", "notifications")}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == ["serve", name.removeprefix("huike-")]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        # bundled-values.yaml pins the image by digest: every pod runs exactly that image
        assert container["image"] == "registry.example.com/huike@sha256:" + "0123456789abcdef" * 4


def _search_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return of_kind(docs, "Deployment")[component("search")]["spec"]["template"]["spec"]["containers"][0]


def _mib(quantity: str) -> int:
    assert quantity.endswith("Mi"), quantity
    return int(quantity[:-2])


@pytest.mark.parametrize("workers", [1, 2, 6])
def test_search_memory_follows_its_worker_count(workers: int) -> None:
    docs = manifests(merged(MINIMAL, {"services": {"search": {"workers": workers}}}))
    container = _search_container(docs)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HUIKE_SEARCH_WORKERS"] == str(workers)
    # Two pools of `workers` processes of ~175 MB each, on top of the service process.
    limit = _mib(container["resources"]["limits"]["memory"])
    request = _mib(container["resources"]["requests"]["memory"])
    assert limit == 320 + 2 * workers * 192
    assert request == 320 + workers * 192
    assert limit - request >= workers * 175


def test_an_explicit_search_memory_limit_is_kept() -> None:
    docs = manifests(merged(MINIMAL, {"services": {"search": {"resources": {"limits": {"memory": "3Gi"}}}}}))
    assert _search_container(docs)["resources"]["limits"]["memory"] == "3Gi"


def test_only_search_gets_a_worker_count() -> None:
    for name, deployment in of_kind(manifests(MINIMAL), "Deployment").items():
        names = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert ("HUIKE_SEARCH_WORKERS" in names) == (name == component("search"))


def _config(values: dict[str, Any]) -> dict[str, str]:
    return of_kind(manifests(values), "ConfigMap")["huike"]["data"]


def test_meilisearch_is_used_exactly_when_it_is_configured() -> None:
    assert _config(MINIMAL)["HUIKE_SEARCH_ENGINE"] == "postgres"
    external = _config(merged(MINIMAL, {"externalMeilisearch": {"url": "http://meili.internal:7700"}}))
    assert external["HUIKE_SEARCH_ENGINE"] == "meilisearch"
    assert external["HUIKE_MEILISEARCH_URL"] == "http://meili.internal:7700"
    bundled = _config(ci_values(CHART / "ci" / "bundled-values.yaml"))
    assert bundled["HUIKE_SEARCH_ENGINE"] == "meilisearch"
    assert bundled["HUIKE_MEILISEARCH_URL"] == "http://huike-meilisearch.crm.svc:7700"
    forced = _config(merged(MINIMAL, {"externalMeilisearch": {"url": "http://meili.internal:7700"},
                                      "config": {"searchEngine": "postgres"}}))
    assert forced["HUIKE_SEARCH_ENGINE"] == "postgres"


@pytest.mark.parametrize(("import_max", "body_size"), [(104_857_600, "101m"), (10_000_000, "11m"), (524_288_000, "501m")])
def test_ingress_body_size_follows_the_import_limit(import_max: int, body_size: str) -> None:
    values = merged(MINIMAL, {"config": {"importMaxBytes": import_max}, "ingress": {"enabled": True}})
    docs = manifests(values)
    (ingress,) = of_kind(docs, "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == body_size
    assert int(body_size[:-1]) * 1_048_576 > import_max
    assert of_kind(docs, "ConfigMap")["huike"]["data"]["HUIKE_IMPORT_MAX_BYTES"] == str(import_max)


@pytest.mark.parametrize(("import_max", "records_tmp"), [(104_857_600, "456Mi"), (524_288_000, "1256Mi")])
def test_no_volume_holds_bulk_files_and_records_scratch_follows_the_import_limit(import_max: int,
                                                                                records_tmp: str) -> None:
    # Bulk files live in PostgreSQL: every pod has only /tmp, and records' fits two imports being read.
    deployments = of_kind(manifests(merged(MINIMAL, {"config": {"importMaxBytes": import_max}})), "Deployment")
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert [v["name"] for v in pod["volumes"]] == ["tmp"], name
        assert [m["mountPath"] for m in pod["containers"][0]["volumeMounts"]] == ["/tmp"], name
        limit = pod["volumes"][0]["emptyDir"]["sizeLimit"]
        assert limit == (records_tmp if name.endswith("records") else "256Mi"), name


@pytest.mark.parametrize(("values", "says"), [
    ({"postgresql": {"enabled": True, "auth": {"password": "x"}}, "database": {"appPassword": "y"}},
     "PostgreSQL is both bundled and external: set postgresql.enabled=false"),
    ({"nats": {"enabled": True}}, "NATS is both bundled and external: set nats.enabled=false"),
    ({"meilisearch": {"enabled": True}, "externalMeilisearch": {"url": "http://meili:7700"}},
     "Meilisearch is both bundled and external"),
    ({"config": {"searchEngine": "meilisearch"}},
     "config.searchEngine=meilisearch needs a Meilisearch: set externalMeilisearch.url or meilisearch.enabled=true"),
    ({"fileStore": {"type": "s3"}},
     "fileStore.type=s3 needs fileStore.s3.bucket (the bucket of bulk files and attachments)"),
    ({"config": {"natsStreamReplicas": 3}, "externalNats": {"clusterSize": 1}},
     "config.natsStreamReplicas=3 is above the NATS cluster size 1: lower it, or raise externalNats.clusterSize"),
    ({"externalNats": {"url": ""}, "nats": {"enabled": True, "config": {"cluster": {"replicas": 1}}},
      "config": {"natsStreamReplicas": 3}},
     "config.natsStreamReplicas=3 is above the NATS cluster size 1: lower it, or raise nats.config.cluster.replicas"),
])
def test_contradictory_values_fail_with_one_line(values: dict[str, Any], says: str) -> None:
    message = render_error(merged(MINIMAL, values))
    assert says in message
    assert message.count("\n") == 0, message


@pytest.mark.parametrize(("values", "where"), [
    ({"confg": {"logLevel": "INFO"}}, "additional properties 'confg' not allowed"),
    ({"services": {"search": {"wokers": 2}}}, "additional properties 'wokers' not allowed"),
    ({"config": {"importMaxByte": 1}}, "additional properties 'importMaxByte' not allowed"),
    ({"config": {"searchEngine": "elastic"}}, "/config/searchEngine"),
    ({"image": {"digest": "latest"}}, "/image/digest"),
    ({"config": {"trustedProxies": "everyone"}}, "/config/trustedProxies"),
    ({"networkPolicy": {"enabeld": False}}, "additional properties 'enabeld' not allowed"),
    ({"fileStore": {"type": "minio"}}, "/fileStore/type"),
    ({"fileStore": {"s3": {"endpoint": "minio:9000"}}}, "/fileStore/s3/endpoint"),
])
def test_values_schema_refuses_typos_and_bad_values(values: dict[str, Any], where: str) -> None:
    assert where in render_error(merged(MINIMAL, values))


def test_every_default_value_is_in_the_schema() -> None:
    # A value the schema does not know would be refused: walk every default key against it.
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        if not isinstance(value, dict) or node.get("type") != "object":
            return
        if "properties" not in node and not isinstance(node.get("additionalProperties"), dict):
            return  # a Kubernetes object (resources, affinity, ...) or a subchart's own values
        for key, sub in value.items():
            child = node.get("properties", {}).get(key)
            if child is None:
                extra = node.get("additionalProperties", True)
                assert extra is not False, f"{path}.{key} is not in values.schema.json"
                if not isinstance(extra, dict):
                    continue  # a subchart's own value: its chart checks it
                child = extra
            assert child.get("description") or child.get("type") or child.get("oneOf"), f"{path}.{key} untyped"
            walk(sub, child, f"{path}.{key}")

    walk(defaults, schema, "")


def test_chart_lock_pins_the_dependencies_and_their_archives_are_vendored() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    lock = yaml.safe_load((CHART / "Chart.lock").read_text())
    declared = [(d["name"], d["version"], d["repository"]) for d in chart["dependencies"]]
    assert [(d["name"], str(d["version"]), d["repository"]) for d in lock["dependencies"]] == declared
    # Helm's digest: sha256 of Go's json.Marshal([Chart.yaml's dependencies, the lock's]); a
    # `helm dependency build` refuses a lock whose digest does not match ("out of sync").
    fields = ("name", "version", "repository", "condition")
    requested = [{k: d[k] for k in fields if d.get(k)} for d in chart["dependencies"]]
    locked = [{"name": d["name"], "version": str(d["version"]), "repository": d["repository"]}
              for d in lock["dependencies"]]
    payload = json.dumps([requested, locked], separators=(",", ":"))
    assert lock["digest"] == "sha256:" + hashlib.sha256(payload.encode()).hexdigest()
    # Their archives are in charts/, so an install needs no network even with every subchart off.
    statuses = {d["name"]: d["status"] for d in helm.dependency_list(CHART)}
    assert statuses == {name: "ok" for name, _, _ in declared}


def test_network_policies_allow_only_what_each_service_needs() -> None:
    docs = manifests(merged(MINIMAL, {"externalMeilisearch": {"url": "http://meili.internal:7700"}}))
    policies = of_kind(docs, "NetworkPolicy")
    assert set(policies) == set(of_kind(docs, "Deployment"))
    for name, policy in policies.items():
        spec = policy["spec"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == name.removeprefix("huike-")
        assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
        (rule,) = spec["ingress"]
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        sources = rule["from"]
        assert sources[0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "ingress-nginx"}
        assert sources[1]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "test"
        assert len(sources) == 2
        ports = {p["port"] for r in spec["egress"] for p in r["ports"]}
        internet = [r for r in spec["egress"] if any("ipBlock" in t for t in r.get("to", []))]
        if name == component("notifications"):
            assert {443, 587} <= ports
            (rule,) = internet
            assert rule["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
            assert "169.254.0.0/16" in rule["to"][0]["ipBlock"]["except"]  # no cloud metadata endpoint
        else:
            assert not internet
            assert 443 not in ports
        assert {53, 5432, 4222} <= ports
        assert (7700 in ports) == (name == component("search"))


def test_the_s3_file_store_reaches_every_service_that_keeps_files() -> None:
    """fileStore.type=s3: every service reads the store's settings, gets the key and may reach the
    object store (each keeps its part of deleted tenants' exports there; records its bulk files and
    attachments too); the default (postgres) sets no S3 variable and opens nothing."""
    s3 = {"fileStore": {"type": "s3", "s3": {"endpoint": "https://oss-cn-hangzhou.aliyuncs.com",
                                             "bucket": "huike-files", "region": "cn-hangzhou"}},
          "secrets": {"s3AccessKeyId": "LTAI-key", "s3SecretAccessKey": "secret"},
          "networkPolicy": {"objectStore": {"ports": [443], "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}}}
    docs = manifests(merged(MINIMAL, s3))
    config = of_kind(docs, "ConfigMap")["huike"]["data"]
    assert (config["HUIKE_FILE_STORE"], config["HUIKE_S3_BUCKET"], config["HUIKE_S3_REGION"]) == (
        "s3", "huike-files", "cn-hangzhou")
    secret = of_kind(docs, "Secret")["huike"]["data"]
    assert base64.b64decode(secret["HUIKE_S3_ACCESS_KEY_ID"]).decode() == "LTAI-key"
    for name, deployment in of_kind(docs, "Deployment").items():
        env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert "HUIKE_S3_SECRET_ACCESS_KEY" in env, name
    for name, policy in of_kind(docs, "NetworkPolicy").items():
        stores = [r for r in policy["spec"]["egress"] if r.get("to") == [{"ipBlock": {"cidr": "203.0.113.0/24"}}]]
        assert len(stores) == 1, name
    plain = manifests(MINIMAL)
    assert of_kind(plain, "ConfigMap")["huike"]["data"]["HUIKE_FILE_STORE"] == "postgres"
    assert not any(k.startswith("HUIKE_S3_") for k in of_kind(plain, "ConfigMap")["huike"]["data"])


def test_bundled_servers_are_the_only_egress_destinations() -> None:
    docs = manifests(ci_values(CHART / "ci" / "bundled-values.yaml"))
    policy = of_kind(docs, "NetworkPolicy")[component("records")]
    by_port = {r["ports"][0]["port"]: r.get("to") for r in policy["spec"]["egress"]}
    assert by_port[5432] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "huike",
                                                               "app.kubernetes.io/name": "postgresql"}}}]
    assert by_port[4222][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "nats"
    # the bundled servers' own pods carry the labels those selectors name
    statefulsets = of_kind(docs, "StatefulSet", own=False)
    labels = [s["spec"]["template"]["metadata"]["labels"] for s in statefulsets.values()]
    for server in ("postgresql", "nats", "meilisearch"):
        assert any(lab.get("app.kubernetes.io/name") == server and lab.get("app.kubernetes.io/instance") == "huike"
                   for lab in labels), server


def test_service_monitors_are_off_by_default_and_one_per_service_when_on() -> None:
    assert of_kind(manifests(MINIMAL), "ServiceMonitor") == {}
    docs = manifests(merged(MINIMAL, {"serviceMonitor": {"enabled": True}}))
    monitors = of_kind(docs, "ServiceMonitor")
    assert set(monitors) == set(of_kind(docs, "Service"))
    assert all(m["spec"]["endpoints"][0]["path"] == "/metrics" for m in monitors.values())
    # Prometheus may reach the pods through the NetworkPolicy
    policy = of_kind(docs, "NetworkPolicy")[component("search")]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in \
        policy["spec"]["ingress"][0]["from"]


def test_an_operator_annotation_cannot_undercut_the_import_limit() -> None:
    values = merged(MINIMAL, {"ingress": {"enabled": True, "annotations": {
        "nginx.ingress.kubernetes.io/proxy-body-size": "1m", "cert-manager.io/cluster-issuer": "letsencrypt"}}})
    (ingress,) = of_kind(manifests(values), "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "101m"
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"
