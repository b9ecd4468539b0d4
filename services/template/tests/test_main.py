"""`python -m template` as a real process: registers in etcd, serves both transports, traces.

Each test starts the service the way the stack does (settings from the
environment only) on free ports, in a temporary working directory.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import requests

from kitcore.sd import Instance
from kitcore.sd.etcd_client import EtcdClient
from kitcore.testing.etcd import EtcdServer
from kitcore.testing.otlp import OTLPCollector
from kitcore.testing.service_process import ServiceProcess
from protos import template_pb2, template_pb2_grpc

ROOT = Path(__file__).resolve().parents[3]
PREFIX = "/kitcore/services/template/"
REGISTERED = 10.0  # seconds for the instance to appear in etcd (generous)


def _template(workdir: Path, **env: str) -> ServiceProcess:
    """``python -m template`` on free ports, in ``workdir``, with extra settings."""
    settings = {"KIT_INSTANCE_ID": "template-main-test", **env}
    return ServiceProcess("template", ROOT, workdir=workdir, env=settings)


def _registered(client: EtcdClient) -> list[Instance]:
    return [Instance.from_json(value) for _, value in client.get_prefix(PREFIX)]


def _wait_registered(client: EtcdClient) -> Instance:
    deadline = time.monotonic() + REGISTERED
    while not (found := _registered(client)):
        assert time.monotonic() < deadline, "never registered in etcd"
        time.sleep(0.05)
    [instance] = found
    return instance


def test_registers_in_etcd_and_answers_at_the_addresses_it_registered(
    etcd: EtcdServer, tmp_path: Path
) -> None:
    server = _template(tmp_path, KIT_ETCD_ENDPOINTS=etcd.address)
    client = EtcdClient([etcd.address])
    try:
        server.start()
        instance = _wait_registered(client)
        assert instance.id == "template-main-test" and instance.service == "template"
        assert instance.http == server.address
        assert instance.grpc == server.grpc_address

        created = requests.post(f"http://{instance.http}/items", json={"name": "first"},
                                timeout=5)
        assert created.status_code == 201, created.text
        item = created.json()["item"]
        with grpc.insecure_channel(instance.grpc) as channel:
            stub = template_pb2_grpc.TemplateServiceStub(channel)
            got, call = stub.GetItem.with_call(template_pb2.GetItemRequest(id=item["id"]),
                                               timeout=5)
        assert (got.item.id, got.item.name) == (item["id"], "first")
        assert dict(call.trailing_metadata())["x-served-by"] == "template-main-test"
        for path in ("/healthz", "/readyz"):
            assert requests.get(f"http://{instance.http}{path}", timeout=5).status_code == 200

        server.stop()  # SIGTERM: deregisters before it exits
        assert _registered(client) == []
    finally:
        server.close()


def test_runs_alone_keeps_writes_over_a_restart_logs_and_counts(tmp_path: Path) -> None:
    # Successful calls outside a sampled trace log at DEBUG (tracing is off here).
    server = _template(tmp_path, KIT_ADMIN_PASSWORD="knob-secret", KIT_LOG_LEVEL="DEBUG")
    try:
        server.start()
        item = requests.post(f"{server.url}/items", json={"name": "first"},
                             timeout=5).json()["item"]
        with grpc.insecure_channel(server.grpc_address) as channel:
            stub = template_pb2_grpc.TemplateServiceStub(channel)
            via_grpc = stub.CreateItem(template_pb2.CreateItemRequest(name="second"),
                                       timeout=5).item
        server.stop()
        assert (tmp_path / "template.db").exists()
        lines = [json.loads(line) for line in server.log_tail(100).splitlines()
                 if line.startswith("{")]
        assert any(line.get("endpoint") == "create_item" for line in lines)

        server.start()
        got = requests.get(f"{server.url}/items/{item['id']}", timeout=5)
        assert got.json() == {"item": item}
        assert got.headers["X-Served-By"] == "template-main-test"
        again = requests.get(f"{server.url}/items/{via_grpc.id}", timeout=5)
        assert again.json()["item"]["name"] == "second"
        metrics = requests.get(f"{server.url}/metrics", timeout=5).text
        assert 'kit_requests_total{endpoint="get_item",outcome="ok",service="template"}' in metrics

        # No demo knobs: a copy of the template starts without fault injection.
        admin = f"{server.url}/admin/faults"
        turned = requests.put(admin, json={"error_rate": 1.0}, auth=("admin", "knob-secret"),
                              timeout=5)
        assert turned.status_code == 404
        assert requests.get(f"{server.url}/items/{item['id']}", timeout=5).status_code == 200
    finally:
        server.close()


def test_with_an_otlp_endpoint_it_traces_both_transports(tmp_path: Path) -> None:
    with OTLPCollector() as collector:
        server = _template(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url)
        try:
            server.start()
            response = requests.post(f"{server.url}/items", json={"name": "first"}, timeout=5)
            assert len(response.headers["X-Trace-Id"]) == 32
            with grpc.insecure_channel(server.grpc_address) as channel:
                stub = template_pb2_grpc.TemplateServiceStub(channel)
                stub.GetItem(template_pb2.GetItemRequest(id=response.json()["item"]["id"]),
                             timeout=5)
            server.stop()  # spans still batched are flushed on exit
        finally:
            server.close()
        served = {span.name for span in collector.spans
                  if span.service == "template" and span.kind == "server"}
    assert {"POST /items", "/kitcore.template.v1.TemplateService/GetItem"} <= served, served
