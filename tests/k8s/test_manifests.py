"""The rendered Kubernetes overlays: valid objects that keep the stack's promises.

Every overlay is checked strictly against the Kubernetes API schemas (by
kubernetes-validate), then read as objects: selectors, probes, resources,
non-root read-only containers, Services that select a workload, secrets that
come only from the overlay's generator, default-deny NetworkPolicies that let
each service reach only what it calls.
"""

from __future__ import annotations

import base64
import re

import kubernetes_validate
import pytest
import yaml
from k8s.render import K8S, ROOT

KUBERNETES_VERSION = "1.32"
"""The API version the manifests are validated against (kubectl's own here)."""

SERVICES = ("book", "user", "gateway")
"""kitcore's own services; the rest of the stack are its dependencies."""

CALLS = {
    "gateway": {("book", 50051), ("user", 8080), ("etcd", 2379), ("redis", 6379),
                ("otel-collector", 4318)},
    "book": {("postgres", 5432), ("etcd", 2379), ("otel-collector", 4318)},
    "user": {("postgres", 5432), ("etcd", 2379), ("otel-collector", 4318)},
    "etcd": {("etcd", 2380)},
    "postgres": set(),
    "redis": set(),
    "otel-collector": set(),
}
"""Who calls whom on which port: the only egress each pod may have (besides DNS)."""

WORKLOADS = ("Deployment", "StatefulSet")
DEMO_DEFAULTS = ("kitcore-demo-secret", "change-me")
"""Compose's demo secrets, which must never reach Kubernetes."""


def of_kind(objects, *kinds):
    return [o for o in objects if o["kind"] in kinds]


def named(objects, kind, name):
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    return found


def app_name(obj) -> str:
    return obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]


def containers(workload):
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def test_every_object_is_valid_for_the_kubernetes_api(overlay):
    _, objects, _ = overlay
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_an_unknown_field(overlay):
    _, objects, _ = overlay
    broken = dict(of_kind(objects, "Deployment")[0])
    broken["spec"] = {**broken["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_workload_selectors_match_their_pod_labels(overlay):
    _, objects, _ = overlay
    for workload in of_kind(objects, *WORKLOADS):
        selector = workload["spec"]["selector"]["matchLabels"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), workload["metadata"]["name"]


def test_every_container_has_probes_requests_and_limits(overlay):
    _, objects, _ = overlay
    for workload in of_kind(objects, *WORKLOADS):
        for c in containers(workload):
            where = f"{workload['metadata']['name']}/{c['name']}"
            assert "readinessProbe" in c and "livenessProbe" in c, where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= c["resources"][bound].keys(), where


def test_every_container_runs_as_non_root_on_a_read_only_filesystem(overlay):
    _, objects, _ = overlay
    for workload in of_kind(objects, *WORKLOADS):
        pod = workload["spec"]["template"]["spec"]
        for c in containers(workload):
            where = f"{workload['metadata']['name']}/{c['name']}"
            context = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser", 0) > 0, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where


def test_kitcore_services_are_probed_on_their_health_routes(overlay):
    _, objects, _ = overlay
    for name in SERVICES:
        (app,) = containers(named(objects, "Deployment", name))
        assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
        readiness = app["readinessProbe"]
        if name == "book":  # called over gRPC: the gRPC health service
            assert readiness["grpc"]["port"] == 50051 and "httpGet" not in readiness
        else:
            assert readiness["httpGet"]["path"] == "/readyz"


def test_kitcore_services_register_their_pod_address(overlay):
    _, objects, _ = overlay
    for name in SERVICES:
        (app,) = containers(named(objects, "Deployment", name))
        env = {e["name"]: e for e in app["env"]}
        assert env["KIT_ADVERTISE_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert env["KIT_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_kitcore_services_are_scraped_and_send_traces_to_the_collector(overlay):
    _, objects, _ = overlay
    (config,) = [o for o in of_kind(objects, "ConfigMap") if "kitcore-env" in o["metadata"]["name"]]
    host, port = re.fullmatch(r"http://([a-z-]+):(\d+)",
                              config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"]).groups()
    collector = named(objects, "Service", host)
    assert int(port) in [p["port"] for p in collector["spec"]["ports"]]
    for name in SERVICES:
        annotations = named(objects, "Deployment", name)["spec"]["template"]["metadata"][
            "annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"


def test_every_service_selects_a_workload_on_a_port_it_has(overlay):
    _, objects, _ = overlay
    workloads = of_kind(objects, *WORKLOADS)
    for service in of_kind(objects, "Service"):
        selector = service["spec"]["selector"]
        (target,) = [w for w in workloads
                     if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        ports = {p["containerPort"] for c in containers(target) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port.get("targetPort", port["port"]) in ports, service["metadata"]["name"]


def test_secrets_come_only_from_the_generator_with_the_users_values(overlay):
    _, objects, values = overlay
    (secret,) = of_kind(objects, "Secret")
    assert secret["metadata"]["name"].startswith("kitcore-secrets-")  # generated, hashed
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == values


def test_no_secret_value_is_committed():
    for path in K8S.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            assert doc.get("kind") != "Secret", path
            for generator in doc.get("secretGenerator", []):
                assert set(generator) <= {"name", "envs", "type", "options"}, path
    for path in K8S.rglob("secrets.env.example"):
        for line in path.read_text().splitlines():
            if not line.startswith("#") and "=" in line:
                assert line.endswith("="), f"{path}: {line}"
    ignored = (ROOT / ".gitignore").read_text()
    assert "deploy/k8s/overlays/*/secrets.env" in ignored


def test_passwords_reach_containers_only_through_the_secret(overlay):
    _, objects, _ = overlay
    text = yaml.safe_dump_all(o for o in objects if o["kind"] != "Secret")
    for default in DEMO_DEFAULTS:
        assert default not in text
    for workload in of_kind(objects, *WORKLOADS):
        for c in containers(workload):
            for e in c.get("env", []):
                if re.search("SECRET|PASSWORD", e["name"]):
                    assert "secretKeyRef" in e["valueFrom"], e["name"]


def _policies_for(objects, app):
    return [p for p in of_kind(objects, "NetworkPolicy")
            if not p["spec"]["podSelector"]
            or p["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": app}]


def test_network_policies_deny_everything_by_default(overlay):
    _, objects, _ = overlay
    deny = named(objects, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_only_the_gateway_accepts_traffic_from_anywhere(overlay):
    _, objects, _ = overlay
    for policy in of_kind(objects, "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:
                assert policy["metadata"]["name"] == "gateway"
                assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_each_pod_reaches_only_what_it_calls(overlay):
    _, objects, _ = overlay
    for workload in of_kind(objects, *WORKLOADS):
        app = app_name(workload)
        allowed = set()
        for policy in _policies_for(objects, app):
            for rule in policy["spec"].get("egress", []):
                ports = [p["port"] for p in rule["ports"]]
                if ports == [53, 53]:
                    continue  # DNS, for everyone
                for peer in rule["to"]:
                    target = peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                    allowed |= {(target, port) for port in ports}
        assert allowed == CALLS[app], app


def test_postgres_creates_the_same_databases_as_compose(overlay):
    _, objects, _ = overlay
    (initdb,) = [o for o in of_kind(objects, "ConfigMap")
                 if o["metadata"]["name"].startswith("postgres-initdb")]
    statements = "".join(initdb["data"].values())
    compose = (ROOT / "docker/postgres/initdb/10-service-databases.sql").read_text()
    want = [line for line in compose.splitlines() if line and not line.startswith("--")]
    assert statements.split("\n")[:-1] == want


def test_production_survives_losing_a_node(overlay):
    name, objects, _ = overlay
    if name != "production":
        pytest.skip("the production overlay's promise")
    etcd = named(objects, "StatefulSet", "etcd")
    assert etcd["spec"]["replicas"] == 3 and etcd["spec"]["volumeClaimTemplates"]
    env = {e["name"]: e.get("value") for e in containers(etcd)[0]["env"]}
    members = env["ETCD_INITIAL_CLUSTER"].split(",")
    assert [m.split("=")[0] for m in members] == [f"etcd-{i}" for i in range(3)]
    budgets = {app_selector(p): p["spec"] for p in of_kind(objects, "PodDisruptionBudget")}
    assert budgets["etcd"] == {"minAvailable": 2, "selector": budgets["etcd"]["selector"]}
    for app in SERVICES:
        assert budgets[app]["maxUnavailable"] == 1
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        target = named(objects, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        assert hpa["spec"]["minReplicas"] >= 2
        assert hpa["spec"]["minReplicas"] <= target["spec"]["replicas"] <= hpa["spec"][
            "maxReplicas"]
    assert {h["metadata"]["name"] for h in of_kind(objects, "HorizontalPodAutoscaler")} == {
        "book", "gateway"}


def app_selector(obj) -> str:
    return obj["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
