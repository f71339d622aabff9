"""Metrics and traces at the otlp receiver: Claude Code's real exports over OTLP/HTTP
(protobuf and JSON) and OTLP/gRPC reach the pipelines of their signal whole, as the key's
org; a signal without a pipeline is not served; the answers name the signal's own
``partial_success`` field."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import cramjam
import grpc
import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from collector.component import ComponentID
from collector.pdata.signals import MetricsBatch, TracesBatch
from tests.conftest import RunningCollector, StartCollector, base_config
from tests.doubles import RecordingExporter

CAPTURES = Path(__file__).parent.parent / "data" / "claude-code-2.1.197-write"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def capture(protocol: str, signal: str) -> bytes:
    name = f"{signal}.json" if protocol == "http-json" else f"{signal}.pb"
    return (CAPTURES / protocol / name).read_bytes()


def all_signals_config(keys_file: Path) -> dict[str, Any]:
    raw = base_config(keys_file)
    raw["receivers"]["otlp"].pop("endpoint")
    raw["receivers"]["otlp"]["protocols"] = {
        "grpc": {"endpoint": "127.0.0.1:0"},
        "http": {"endpoint": "127.0.0.1:0"},
    }
    raw["exporters"] = {"recording/logs": {}, "recording/metrics": {}, "recording/traces": {}}
    raw["service"]["pipelines"] = {
        signal: {"receivers": ["otlp"], "exporters": [f"recording/{signal}"]}
        for signal in ("logs", "metrics", "traces")
    }
    return raw


@pytest.fixture
async def running(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> RunningCollector:
    return await start_collector(all_signals_config(keys_file))


def recorded(signal: str) -> RecordingExporter:
    return RecordingExporter.instances[f"recording/{signal}"]


def http_url(running: RunningCollector, path: str) -> str:
    receiver = running.service.receivers[ComponentID("otlp")]
    return f"http://{receiver.address}{path}"  # type: ignore[attr-defined]


def grpc_address(running: RunningCollector) -> str:
    receiver = running.service.receivers[ComponentID("otlp")]
    return str(receiver.grpc_address)  # type: ignore[attr-defined]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def attribute(pb: Any, key: str) -> str:
    return next(kv.value.string_value for kv in pb.attributes if kv.key == key)


def metric_names(batch: Any) -> list[str]:
    return [p.metric.name for p in batch.records]


@pytest.mark.parametrize(("protocol", "headers"), [("http-protobuf", PROTOBUF),
                                                   ("http-json", JSON)])  # fmt: skip
async def test_claude_code_metrics_over_http_reach_the_metrics_pipeline_whole(
    running: RunningCollector, client: httpx.AsyncClient, org_key: str, protocol: str,
    headers: dict[str, str],
) -> None:  # fmt: skip
    resp = await client.post(http_url(running, "/v1/metrics"),
                             content=capture(protocol, "metrics"),
                             headers={**headers, **auth(org_key)})  # fmt: skip
    assert resp.status_code == 200, resp.text
    (batch,) = recorded("metrics").batches
    assert isinstance(batch, MetricsBatch)
    assert batch.tenant == "acme"
    assert len(batch) == 10
    lines = {
        attribute(p.pb, "type"): p.pb.as_double
        for p in batch.records
        if p.metric.name == "claude_code.lines_of_code.count"
    }
    assert lines == {"added": 3.0, "removed": 0.0}
    assert recorded("logs").batches == [] and recorded("traces").batches == []


@pytest.mark.parametrize(("protocol", "headers"), [("http-protobuf", PROTOBUF),
                                                   ("http-json", JSON)])  # fmt: skip
async def test_claude_code_traces_over_http_reach_the_traces_pipeline_whole(
    running: RunningCollector, client: httpx.AsyncClient, org_key: str, protocol: str,
    headers: dict[str, str],
) -> None:  # fmt: skip
    resp = await client.post(http_url(running, "/v1/traces"),
                             content=capture(protocol, "traces"),
                             headers={**headers, **auth(org_key)})  # fmt: skip
    assert resp.status_code == 200, resp.text
    (batch,) = recorded("traces").batches
    assert isinstance(batch, TracesBatch)
    assert batch.tenant == "acme"
    names = sorted(s.pb.name for s in batch.records)
    assert names == ["claude_code.interaction", "claude_code.llm_request",
                     "claude_code.llm_request", "claude_code.tool",
                     "claude_code.tool.blocked_on_user", "claude_code.tool.execution"]  # fmt: skip
    # trace and span ids arrive as bytes whatever the encoding (hex in OTLP/JSON)
    assert all(len(s.pb.trace_id) == 16 and len(s.pb.span_id) == 8 for s in batch.records)


async def test_the_cowork_style_prefix_serves_metrics_too(
    running: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    resp = await client.post(http_url(running, "/api/v1/hooks/cowork/otlp/v1/metrics"),
                             content=capture("http-protobuf", "metrics"),
                             headers={**PROTOBUF, **auth(org_key)})  # fmt: skip
    assert resp.status_code == 200
    assert len(recorded("metrics").records) == 10


async def test_metrics_over_grpc_reach_the_metrics_pipeline_as_the_keys_org(
    running: RunningCollector, org_key: str
) -> None:
    request = ExportMetricsServiceRequest.FromString(capture("grpc", "metrics"))
    async with grpc.aio.insecure_channel(grpc_address(running)) as channel:
        response = await MetricsServiceStub(channel).Export(
            request, metadata=(("authorization", f"Bearer {org_key}"),)
        )
    assert response == ExportMetricsServiceResponse()
    (batch,) = recorded("metrics").batches
    assert batch.tenant == "acme"
    assert "claude_code.active_time.total" in metric_names(batch)


async def test_traces_over_grpc_with_gzip_reach_the_traces_pipeline(
    running: RunningCollector, org_key: str
) -> None:
    request = ExportTraceServiceRequest.FromString(capture("grpc", "traces"))
    async with grpc.aio.insecure_channel(grpc_address(running),
                                         compression=grpc.Compression.Gzip) as channel:  # fmt: skip
        response = await TraceServiceStub(channel).Export(
            request, metadata=(("authorization", f"Bearer {org_key}"),)
        )
    assert response == ExportTraceServiceResponse()
    assert len(recorded("traces").records) == 6


async def test_metrics_over_grpc_without_a_key_are_unauthenticated(
    running: RunningCollector,
) -> None:
    request = ExportMetricsServiceRequest.FromString(capture("grpc", "metrics"))
    async with grpc.aio.insecure_channel(grpc_address(running)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await MetricsServiceStub(channel).Export(request)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert recorded("metrics").batches == []


async def test_traces_with_a_key_without_the_role_are_forbidden(
    running: RunningCollector, client: httpx.AsyncClient
) -> None:
    key = await running.key(roles=("viewer",))
    resp = await client.post(http_url(running, "/v1/traces"),
                             content=capture("http-protobuf", "traces"),
                             headers={**PROTOBUF, **auth(key)})  # fmt: skip
    assert resp.status_code == 403
    assert recorded("traces").batches == []


@pytest.mark.parametrize("encoding", ["snappy", "zstd", "gzip", "lz4"])
async def test_compressed_metrics_are_accepted(
    running: RunningCollector, client: httpx.AsyncClient, org_key: str, encoding: str
) -> None:
    raw = capture("http-protobuf", "metrics")
    body = {
        "snappy": lambda: bytes(cramjam.snappy.compress_raw(raw)),
        "zstd": lambda: bytes(cramjam.zstd.compress(raw)),
        "gzip": lambda: gzip.compress(raw),
        "lz4": lambda: bytes(cramjam.lz4.compress(raw)),
    }[encoding]()
    resp = await client.post(http_url(running, "/v1/metrics"), content=body,
                             headers={**PROTOBUF, **auth(org_key),
                                      "Content-Encoding": encoding})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert len(recorded("metrics").records) == 10


async def test_invalid_metrics_are_a_400_that_says_so(
    running: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    resp = await client.post(http_url(running, "/v1/metrics"), content=b'{"resourceMetrics": 3}',
                             headers={**JSON, **auth(org_key)})  # fmt: skip
    assert resp.status_code == 400
    assert "ExportMetricsServiceRequest" in resp.json()["message"]


async def test_a_refused_part_is_reported_as_rejected_data_points(
    running: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    recorded("metrics").fail_with = "partial"
    resp = await client.post(http_url(running, "/v1/metrics"),
                             content=capture("http-protobuf", "metrics"),
                             headers={**PROTOBUF, **auth(org_key)})  # fmt: skip
    assert resp.status_code == 200
    answer = ExportMetricsServiceResponse.FromString(resp.content)
    assert answer.partial_success.rejected_data_points > 0


async def test_a_refused_part_of_traces_in_json_names_rejected_spans(
    running: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    recorded("traces").fail_with = "partial"
    resp = await client.post(http_url(running, "/v1/traces"),
                             content=capture("http-json", "traces"),
                             headers={**JSON, **auth(org_key)})  # fmt: skip
    assert resp.status_code == 200
    assert int(resp.json()["partialSuccess"]["rejectedSpans"]) > 0


async def test_too_many_data_points_are_refused_with_413(
    start_collector: StartCollector, keys_file: Path, org_key: str, client: httpx.AsyncClient
) -> None:
    raw = all_signals_config(keys_file)
    raw["receivers"]["otlp"]["max_records_per_request"] = 5
    running = await start_collector(raw)
    resp = await client.post(http_url(running, "/v1/metrics"),
                             content=capture("http-protobuf", "metrics"),
                             headers={**PROTOBUF, **auth(org_key)})  # fmt: skip
    assert resp.status_code == 413
    assert "max_records_per_request" in Status.FromString(resp.content).message
    assert recorded("metrics").batches == []


async def test_a_receiver_only_in_a_logs_pipeline_does_not_serve_metrics(
    start_collector: StartCollector, keys_file: Path, org_key: str, client: httpx.AsyncClient
) -> None:
    running = await start_collector(base_config(keys_file))
    resp = await client.post(f"{running.url}/v1/metrics",
                             content=capture("http-protobuf", "metrics"),
                             headers={**PROTOBUF, **auth(org_key)})  # fmt: skip
    assert resp.status_code == 404


async def test_a_receiver_only_in_a_logs_pipeline_answers_unimplemented_for_traces_over_grpc(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> None:
    raw = base_config(keys_file)
    raw["receivers"]["otlp"].pop("endpoint")
    raw["receivers"]["otlp"]["protocols"] = {"grpc": {"endpoint": "127.0.0.1:0"}}
    running = await start_collector(raw)
    request = ExportTraceServiceRequest.FromString(capture("grpc", "traces"))
    async with grpc.aio.insecure_channel(grpc_address(running)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await TraceServiceStub(channel).Export(
                request, metadata=(("authorization", f"Bearer {org_key}"),)
            )
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def counted(name: str, transport: str) -> float:
    from collector.telemetry import metrics

    return sum(
        sample.value
        for metric in metrics.REGISTRY.collect()
        for sample in metric.samples
        if sample.name == name and sample.labels.get("transport") == transport
    )


async def test_data_points_are_counted_as_metric_points_not_log_records(
    running: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    points = "otelcol_receiver_accepted_metric_points_total"
    logs = "otelcol_receiver_accepted_log_records_total"
    before = counted(points, "http"), counted(logs, "http")
    resp = await client.post(http_url(running, "/v1/metrics"),
                             content=capture("http-protobuf", "metrics"),
                             headers={**PROTOBUF, **auth(org_key)})  # fmt: skip
    assert resp.status_code == 200
    assert (counted(points, "http") - before[0], counted(logs, "http") - before[1]) == (10, 0)
