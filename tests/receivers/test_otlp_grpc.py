"""OTLP/gRPC on the ``otlp`` receiver, with a real grpcio client on loopback: the same keys,
bounds and answers as OTLP/HTTP, in gRPC's terms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub

from collector.component import ComponentID
from tests.conftest import RunningCollector, StartCollector, base_config


def grpc_config(keys_file: Path, **receiver: Any) -> dict[str, Any]:
    raw = base_config(keys_file, **receiver)
    raw["receivers"]["otlp"].pop("endpoint")
    raw["receivers"]["otlp"].setdefault("protocols", {"grpc": {"endpoint": "127.0.0.1:0"}})
    return raw


def grpc_address(running: RunningCollector) -> str:
    return running.service.receivers[ComponentID("otlp")].grpc_address  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def request_bytes(sample_json: bytes) -> ExportLogsServiceRequest:
    return json_format.Parse(sample_json, ExportLogsServiceRequest())


@pytest.fixture
async def running(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> RunningCollector:
    """The key exists before the collector starts, so it is known from the first call."""
    return await start_collector(grpc_config(keys_file))


@pytest.fixture
async def stub(running: RunningCollector) -> AsyncIterator[LogsServiceStub]:
    async with grpc.aio.insecure_channel(grpc_address(running)) as channel:
        yield LogsServiceStub(channel)


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


async def test_the_sample_over_grpc_reaches_the_pipeline_as_the_keys_tenant(
    running: RunningCollector,
    stub: LogsServiceStub,
    org_key: str,
    request_bytes: ExportLogsServiceRequest,
) -> None:
    """Export with an org key: OK, no partial success, the six records in one batch of
    the key's org."""
    response = await stub.Export(request_bytes, metadata=bearer(org_key))
    assert not response.HasField("partial_success")
    (batch,) = running.exporter().batches
    assert (batch.tenant, len(batch.records)) == ("acme", 6)


async def test_gzip_compressed_requests_are_accepted(
    running: RunningCollector,
    stub: LogsServiceStub,
    org_key: str,
    request_bytes: ExportLogsServiceRequest,
) -> None:
    await stub.Export(request_bytes, metadata=bearer(org_key), compression=grpc.Compression.Gzip)
    assert len(running.exporter().records) == 6


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("none", grpc.StatusCode.UNAUTHENTICATED),
        ("unknown", grpc.StatusCode.UNAUTHENTICATED),
        ("no role", grpc.StatusCode.PERMISSION_DENIED),
        ("personal", grpc.StatusCode.PERMISSION_DENIED),
    ],
)
async def test_keys_are_checked_as_over_http(
    running: RunningCollector,
    stub: LogsServiceStub,
    request_bytes: ExportLogsServiceRequest,
    kind: str,
    code: grpc.StatusCode,
) -> None:
    """No key or an unknown one: UNAUTHENTICATED; a key without the role or a personal
    key: PERMISSION_DENIED; nothing reaches the pipeline, and no key is echoed."""
    keys = {
        "none": None,
        "unknown": "sck_nope",
        "no role": await running.key(roles=("sessions_read",)),
        "personal": await running.key(personal=True, user="dev@example.com"),
    }
    key = keys[kind]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Export(request_bytes, metadata=bearer(key) if key else None)
    assert info.value.code() == code
    assert key is None or key not in (info.value.details() or "")
    assert running.exporter().batches == []


async def test_an_undecodable_request_is_invalid_argument(
    running: RunningCollector, org_key: str
) -> None:
    async with grpc.aio.insecure_channel(grpc_address(running)) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await export(b"\xff\xff\xff", metadata=bearer(org_key))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid protobuf" in (info.value.details() or "")


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    """The RetryInfo delay in the error's google.rpc.Status details, in seconds."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return info.retry_delay.ToNanoseconds() / 1e9
    return None


@pytest.mark.parametrize(
    ("fail_with", "code", "delay"),
    [
        ("retryable", grpc.StatusCode.UNAVAILABLE, 7.0),
        ("overload", grpc.StatusCode.RESOURCE_EXHAUSTED, 2.0),
        ("permanent", grpc.StatusCode.INVALID_ARGUMENT, None),
    ],
)
async def test_pipeline_refusals_map_to_grpc_codes_with_retry_info(
    running: RunningCollector,
    stub: LogsServiceStub,
    org_key: str,
    request_bytes: ExportLogsServiceRequest,
    fail_with: Any,
    code: grpc.StatusCode,
    delay: float | None,
) -> None:
    """Retry later: UNAVAILABLE; overloaded: RESOURCE_EXHAUSTED, each with a RetryInfo of
    the pipeline's delay; refused for good: INVALID_ARGUMENT without one."""
    running.exporter().fail_with = fail_with
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Export(request_bytes, metadata=bearer(org_key))
    assert info.value.code() == code
    assert retry_delay(info.value) == delay


async def test_a_partial_rejection_is_ok_with_partial_success(
    running: RunningCollector,
    stub: LogsServiceStub,
    org_key: str,
    request_bytes: ExportLogsServiceRequest,
) -> None:
    running.exporter().fail_with = "partial"
    response = await stub.Export(request_bytes, metadata=bearer(org_key))
    assert response.partial_success.rejected_log_records == 1
    assert response.partial_success.error_message == "one record too large"


async def test_a_message_over_max_request_body_size_is_refused(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    request_bytes: ExportLogsServiceRequest,
) -> None:
    running = await start_collector(grpc_config(keys_file, max_request_body_size=1000))
    async with grpc.aio.insecure_channel(grpc_address(running)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await LogsServiceStub(channel).Export(request_bytes, metadata=bearer(org_key))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert running.exporter().batches == []


async def test_more_records_than_allowed_is_invalid_argument_naming_the_setting(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    request_bytes: ExportLogsServiceRequest,
) -> None:
    running = await start_collector(grpc_config(keys_file, max_records_per_request=3))
    async with grpc.aio.insecure_channel(grpc_address(running)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await LogsServiceStub(channel).Export(request_bytes, metadata=bearer(org_key))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_records_per_request" in (info.value.details() or "")


async def test_both_protocols_are_served_when_both_are_named(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    request_bytes: ExportLogsServiceRequest,
    sample_json: bytes,
) -> None:
    """protocols: {grpc, http}: the same receiver takes OTLP/gRPC and OTLP/HTTP."""
    import httpx

    protocols = {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}}
    running = await start_collector(grpc_config(keys_file, protocols=protocols))
    async with grpc.aio.insecure_channel(grpc_address(running)) as channel:
        await LogsServiceStub(channel).Export(request_bytes, metadata=bearer(org_key))
    receiver = running.service.receivers[ComponentID("otlp")]
    async with httpx.AsyncClient() as client:
        resp = await client.post(
            f"http://{receiver.address}/v1/logs",  # type: ignore[attr-defined]
            content=sample_json,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {org_key}"},
        )
    assert resp.status_code == 200
    assert [len(b.records) for b in running.exporter().batches] == [6, 6]


async def test_grpc_over_tls(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    request_bytes: ExportLogsServiceRequest,
    tmp_path: Path,
) -> None:
    """With ``tls``, gRPC is served over TLS with the configured certificate."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    tls = {"cert_file": str(cert_file), "key_file": str(key_file)}
    running = await start_collector(grpc_config(keys_file, tls=tls))
    port = grpc_address(running).rsplit(":", 1)[1]
    credentials = grpc.ssl_channel_credentials(root_certificates=ca.cert_pem.bytes())
    async with grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel:
        await LogsServiceStub(channel).Export(request_bytes, metadata=bearer(org_key))
    assert len(running.exporter().records) == 6


@pytest.mark.parametrize(
    ("receiver", "problem"),
    [
        ({"endpoint": "127.0.0.1:0", "protocols": {"http": {"endpoint": "127.0.0.1:0"}}},
         "the HTTP endpoint is set twice"),
        ({"protocols": {}}, "name grpc, http or both"),
        ({"protocols": {"grpc": {"endpont": "127.0.0.1:0"}}}, "endpont"),
    ],
)  # fmt: skip
def test_a_wrong_protocols_section_names_the_problem(
    keys_file: Path, receiver: dict[str, Any], problem: str
) -> None:
    from collector.confmap import ConfigError, ConfMap
    from collector.service.config import validate
    from tests.doubles import testing_registry

    raw = base_config(keys_file)
    raw["receivers"]["otlp"] = {"auth": "apikeys", **receiver}
    conf = ConfMap()
    conf.merge(raw, "test.yaml")
    with pytest.raises(ConfigError) as info:
        validate(conf, testing_registry())
    assert "receivers.otlp" in str(info.value)
    assert problem in str(info.value)


async def test_a_connection_that_never_finishes_its_handshake_is_closed(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    request_bytes: ExportLogsServiceRequest,
) -> None:
    """header_timeout holds for gRPC too: twenty connections that send half of the HTTP/2
    preface are closed once it passes, while a valid client is served."""
    import asyncio

    running = await start_collector(grpc_config(keys_file, header_timeout="500ms"))
    host, port = grpc_address(running).rsplit(":", 1)
    slow = [await asyncio.open_connection(host, int(port)) for _ in range(20)]
    for _, writer in slow:
        writer.write(b"PRI * HTTP/2.0\r\n")  # half of the client preface
        await writer.drain()
    async with grpc.aio.insecure_channel(grpc_address(running)) as channel:
        await LogsServiceStub(channel).Export(request_bytes, metadata=bearer(org_key))

    async def closed(reader: asyncio.StreamReader) -> bool:
        try:
            while await asyncio.wait_for(reader.read(1024), timeout=10):
                pass  # the server's own preface (SETTINGS) may come first
            return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    assert all(await asyncio.gather(*(closed(r) for r, _ in slow)))
    assert len(running.exporter().records) == 6
    for _, writer in slow:
        writer.close()


async def test_a_request_larger_than_the_offload_threshold_is_taken_whole(
    running: RunningCollector,
    stub: LogsServiceStub,
    org_key: str,
    request_bytes: ExportLogsServiceRequest,
) -> None:
    """A request over 256 KiB (decoded in a worker thread, as over HTTP) reaches the
    pipeline with every record and value intact."""
    big = "x" * 400_000
    record = request_bytes.resource_logs[0].scope_logs[0].log_records[0]
    record.attributes.add(key="big").value.string_value = big
    assert request_bytes.ByteSize() > 256 * 1024
    await stub.Export(request_bytes, metadata=bearer(org_key))
    (batch,) = running.exporter().batches
    assert len(batch.records) == 6
    assert batch.records[0].attributes["big"] == big
