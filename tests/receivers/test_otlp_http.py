"""The OTLP/HTTP logs receiver, spoken to over loopback by a real HTTP client."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import cramjam
import httpx
import orjson
import pytest
import trustme
import zstandard
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from tests.conftest import RunningCollector, StartCollector, base_config

LOGS = "/v1/logs"
COWORK = "/api/v1/hooks/cowork/otlp/v1/logs"
JSON = {"Content-Type": "application/json"}
PROTO = {"Content-Type": "application/x-protobuf"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def to_proto(sample_json: bytes) -> bytes:
    return json_format.Parse(sample_json, ExportLogsServiceRequest()).SerializeToString()


def json_status(resp: httpx.Response) -> dict[str, object]:
    assert resp.headers["content-type"].startswith("application/json")
    doc = orjson.loads(resp.content)
    assert isinstance(doc, dict)
    return doc


# -- success -------------------------------------------------------------------------------


async def test_json_export_is_accepted_with_empty_export_response(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """A valid OTLP/JSON export gets 200 and an empty JSON ExportLogsServiceResponse."""
    resp = await client.post(
        collector.url + LOGS, content=sample_json, headers={**JSON, **auth(org_key)}
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert orjson.loads(resp.content) == {}
    assert len(collector.exporter().records) == 6


async def test_protobuf_export_is_answered_in_protobuf(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """A protobuf export gets 200 with a protobuf ExportLogsServiceResponse."""
    resp = await client.post(
        collector.url + COWORK, content=to_proto(sample_json), headers={**PROTO, **auth(org_key)}
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-protobuf"
    parsed = ExportLogsServiceResponse.FromString(resp.content)
    assert not parsed.HasField("partial_success")
    assert len(collector.exporter().records) == 6


async def test_media_type_parameters_are_accepted(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """``application/json; charset=utf-8`` is JSON."""
    headers = {"Content-Type": "application/json; charset=utf-8", **auth(org_key)}
    resp = await client.post(collector.url + LOGS, content=sample_json, headers=headers)
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b, wbits=-15)),
        ("zstd", zstandard.ZstdCompressor().compress),
        ("identity", lambda b: b),
        ("zlib", zlib.compress),
        ("snappy", lambda b: bytes(cramjam.snappy.compress_raw(b))),
        ("x-snappy-framed", lambda b: bytes(cramjam.snappy.compress(b))),
        ("lz4", lambda b: bytes(cramjam.lz4.compress(b))),
    ],
    ids=[
        "gzip",
        "deflate-zlib",
        "deflate-raw",
        "zstd",
        "identity",
        "zlib",
        "snappy-block",
        "snappy-framed",
        "lz4-frame",
    ],
)
@pytest.mark.parametrize("media", ["json", "protobuf"])
async def test_compressed_bodies_are_decoded(
    collector: RunningCollector,
    client: httpx.AsyncClient,
    org_key: str,
    sample_json: bytes,
    encoding: str,
    compress: Callable[[bytes], bytes],
    media: str,
) -> None:
    """Every supported Content-Encoding, for both media types, yields the six records."""
    body, headers = (sample_json, JSON) if media == "json" else (to_proto(sample_json), PROTO)
    resp = await client.post(
        collector.url + LOGS,
        content=compress(body),
        headers={**headers, **auth(org_key), "Content-Encoding": encoding},
    )
    assert resp.status_code == 200, resp.content
    assert len(collector.exporter().records) == 6


async def test_chunked_body_without_content_length_is_accepted(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """A gzip body sent in chunks with no Content-Length is read whole."""
    compressed = gzip.compress(sample_json)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(compressed), 100):
            yield compressed[i : i + 100]

    headers = {**JSON, **auth(org_key), "Content-Encoding": "gzip"}
    request = client.build_request("POST", collector.url + LOGS, content=chunks(), headers=headers)
    assert request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in request.headers
    resp = await client.send(request)
    assert resp.status_code == 200
    assert len(collector.exporter().records) == 6


async def test_empty_export_is_accepted_without_calling_the_pipeline(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    """``{}`` is a valid, empty export: 200, and nothing reaches the exporter."""
    resp = await client.post(collector.url + LOGS, content=b"{}", headers={**JSON, **auth(org_key)})
    assert resp.status_code == 200
    assert collector.exporter().batches == []


# -- authentication ------------------------------------------------------------------------


async def test_missing_key_is_401(
    collector: RunningCollector, client: httpx.AsyncClient, sample_json: bytes
) -> None:
    """No Authorization header: 401 with an UNAUTHENTICATED status, nothing exported."""
    resp = await client.post(collector.url + LOGS, content=sample_json, headers=JSON)
    assert resp.status_code == 401
    assert json_status(resp)["code"] == code_pb2.UNAUTHENTICATED
    assert collector.exporter().batches == []


async def test_unknown_key_is_401_and_never_echoed(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """A key that is not in the file (here: a real key with its secret altered) is 401."""
    forged = org_key[:-4] + ("AAAA" if not org_key.endswith("AAAA") else "BBBB")
    resp = await client.post(
        collector.url + LOGS, content=sample_json, headers={**JSON, **auth(forged)}
    )
    assert resp.status_code == 401
    assert forged.encode() not in resp.content
    assert org_key.encode() not in resp.content


async def test_non_bearer_scheme_is_401(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """``Authorization: Basic ...`` is not an API key."""
    headers = {**JSON, "Authorization": f"Basic {org_key}"}
    resp = await client.post(collector.url + LOGS, content=sample_json, headers=headers)
    assert resp.status_code == 401


async def test_bearer_scheme_is_case_insensitive(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """``bearer`` and ``BEARER`` work as well as ``Bearer``."""
    for scheme in ("bearer", "BEARER"):
        headers = {**JSON, "Authorization": f"{scheme} {org_key}"}
        resp = await client.post(collector.url + LOGS, content=sample_json, headers=headers)
        assert resp.status_code == 200


async def test_key_without_required_role_is_403(
    collector: RunningCollector,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """An org key holding only other roles is 403 naming the missing role."""
    key = await collector.key(roles=("sessions_read",))
    resp = await client.post(
        collector.url + LOGS, content=sample_json, headers={**JSON, **auth(key)}
    )
    assert resp.status_code == 403
    status = json_status(resp)
    assert status["code"] == code_pb2.PERMISSION_DENIED
    assert "mcp_watch_scan" in str(status["message"])


async def test_personal_key_is_403_even_with_the_role(
    collector: RunningCollector,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """A personal key is refused with 403 although it holds mcp_watch_scan."""
    key = await collector.key(personal=True, user="dev@example.com")
    resp = await client.post(
        collector.url + LOGS, content=sample_json, headers={**JSON, **auth(key)}
    )
    assert resp.status_code == 403


async def test_auth_failure_on_protobuf_is_answered_in_protobuf(
    collector: RunningCollector, client: httpx.AsyncClient, sample_json: bytes
) -> None:
    """The 401 Status comes in the request's encoding."""
    resp = await client.post(collector.url + LOGS, content=to_proto(sample_json), headers=PROTO)
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/x-protobuf"
    assert status_pb2.Status.FromString(resp.content).code == code_pb2.UNAUTHENTICATED


async def test_auth_is_checked_before_the_body_is_read(
    collector: RunningCollector, client: httpx.AsyncClient
) -> None:
    """An unauthenticated request with an oversized declared body gets 401, not 413."""
    resp = await client.post(collector.url + LOGS, content=b"x" * (21 * 1024 * 1024), headers=JSON)
    assert resp.status_code == 401


async def test_tenant_is_the_keys_org_whatever_the_payload_says(
    collector: RunningCollector,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """The batch's tenant is the key's org; a payload ``tenant`` attribute changes nothing."""
    doc = orjson.loads(sample_json)
    doc["resourceLogs"][0]["resource"]["attributes"].append(
        {"key": "tenant", "value": {"stringValue": "evil"}}
    )
    key = await collector.key(org="globex")
    resp = await client.post(
        collector.url + LOGS, content=orjson.dumps(doc), headers={**JSON, **auth(key)}
    )
    assert resp.status_code == 200
    assert [b.tenant for b in collector.exporter().batches] == ["globex"]


# -- refusals before decoding ---------------------------------------------------------------


async def test_unknown_path_is_404(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """Only the configured logs paths exist."""
    resp = await client.post(
        collector.url + "/v1/traces", content=sample_json, headers={**JSON, **auth(org_key)}
    )
    assert resp.status_code == 404


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_methods_other_than_post_are_405(
    collector: RunningCollector, client: httpx.AsyncClient, method: str
) -> None:
    """GET, PUT and DELETE on a logs path are 405 with ``Allow: POST``."""
    resp = await client.request(method, collector.url + LOGS)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"


@pytest.mark.parametrize("media", ["text/plain", "application/xml", ""])
async def test_other_media_types_are_415(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, media: str
) -> None:
    """Anything but protobuf or JSON is 415."""
    headers = {**auth(org_key), "Content-Type": media}
    resp = await client.post(collector.url + LOGS, content=b"{}", headers=headers)
    assert resp.status_code == 415


async def test_unsupported_content_encoding_is_400_naming_it(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """``Content-Encoding: br`` is 400 and the message names ``br``."""
    headers = {**JSON, **auth(org_key), "Content-Encoding": "br"}
    resp = await client.post(collector.url + LOGS, content=sample_json, headers=headers)
    assert resp.status_code == 400
    assert "'br'" in str(json_status(resp)["message"])


async def test_declared_oversized_body_is_413(
    start_collector: StartCollector, keys_file: Path, org_key: str, client: httpx.AsyncClient
) -> None:
    """A Content-Length over max_request_body_size is 413."""
    running = await start_collector(base_config(keys_file, max_request_body_size=1000))
    resp = await client.post(
        running.url + LOGS, content=b"{" + b" " * 2000 + b"}", headers={**JSON, **auth(org_key)}
    )
    assert resp.status_code == 413


async def test_chunked_oversized_body_is_413(
    start_collector: StartCollector, keys_file: Path, org_key: str, client: httpx.AsyncClient
) -> None:
    """A chunked body that grows past the limit is cut off with 413."""
    running = await start_collector(base_config(keys_file, max_request_body_size=1000))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(50):
            yield b" " * 100

    resp = await client.post(
        running.url + LOGS, content=chunks(), headers={**JSON, **auth(org_key)}
    )
    assert resp.status_code == 413


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("zstd", zstandard.compress)],
)
async def test_decompression_bomb_is_413(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    encoding: str,
    compress: Callable[[bytes], bytes],
) -> None:
    """A small body that inflates past the limit is refused with 413."""
    running = await start_collector(base_config(keys_file, max_request_body_size=100_000))
    bomb = compress(b"{" + b" " * 50_000_000 + b"}")
    assert len(bomb) < 100_000
    headers = {**JSON, **auth(org_key), "Content-Encoding": encoding}
    resp = await client.post(running.url + LOGS, content=bomb, headers=headers)
    assert resp.status_code == 413
    assert running.exporter().batches == []


@pytest.mark.parametrize(
    ("encoding", "compress", "status"),
    [
        ("snappy", lambda b: bytes(cramjam.snappy.compress_raw(b)), 413),
        ("x-snappy-framed", lambda b: bytes(cramjam.snappy.compress(b)), 400),
        ("lz4", lambda b: bytes(cramjam.lz4.compress(b)), 400),
        ("zlib", zlib.compress, 413),
    ],
    ids=["snappy-block", "snappy-framed", "lz4-frame", "zlib"],
)
async def test_a_bomb_in_the_other_encodings_is_refused_before_it_is_inflated(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    encoding: str,
    compress: Callable[[bytes], bytes],
    status: int,
) -> None:
    """A body that inflates past the limit: 413 where the encoding tells that it is too
    large (a snappy block declares its size), else 400 naming both causes (framed snappy
    and lz4 stop at the limit, but tell a full buffer from a corrupt input only in an
    error's text); nothing passed on."""
    running = await start_collector(base_config(keys_file, max_request_body_size=100_000))
    bomb = compress(b"{" + b" " * 2_000_000 + b"}")
    assert len(bomb) < 100_000
    headers = {**JSON, **auth(org_key), "Content-Encoding": encoding}
    resp = await client.post(running.url + LOGS, content=bomb, headers=headers)
    assert resp.status_code == status
    if status == 400:
        assert "max_request_body_size" in str(json_status(resp)["message"])
    assert running.exporter().batches == []


@pytest.mark.parametrize("encoding", ["snappy", "x-snappy-framed", "lz4", "zlib"])
async def test_a_corrupt_body_in_the_other_encodings_is_400_naming_it(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, encoding: str
) -> None:
    headers = {**JSON, **auth(org_key), "Content-Encoding": encoding}
    resp = await client.post(collector.url + LOGS, content=b"\xff" * 64, headers=headers)
    assert resp.status_code == 400
    assert encoding in str(json_status(resp)["message"])


# -- malformed bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"resourceLogs": {}}',
        b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}',
        b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz"}]}]}]}',
        b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"intValue": true}}]}]}]}',
    ],
    ids=["not-json", "array", "wrong-type", "bad-int", "bad-trace-id", "bool-as-int"],
)
async def test_malformed_json_is_400_with_a_status(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, body: bytes
) -> None:
    """A malformed JSON body is 400 with an INVALID_ARGUMENT status and a reason."""
    resp = await client.post(collector.url + LOGS, content=body, headers={**JSON, **auth(org_key)})
    assert resp.status_code == 400
    status = json_status(resp)
    assert status["code"] == code_pb2.INVALID_ARGUMENT
    assert status["message"]
    assert collector.exporter().batches == []


async def test_malformed_json_reason_points_at_the_field(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    """The reason names where in the export the problem is."""
    body = b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{}, {"timeUnixNano": "x"}]}]}]}'
    resp = await client.post(collector.url + LOGS, content=body, headers={**JSON, **auth(org_key)})
    message = str(json_status(resp)["message"])
    assert "resourceLogs[0].scopeLogs[0].logRecords[1].timeUnixNano" in message


async def test_malformed_protobuf_is_400_in_protobuf(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    """Garbage sent as protobuf is 400 with a protobuf google.rpc.Status."""
    resp = await client.post(
        collector.url + LOGS, content=b"\xff\xff\xff\xff", headers={**PROTO, **auth(org_key)}
    )
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status.FromString(resp.content)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message


async def test_corrupt_gzip_is_400(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """A body that claims gzip but is not gzip is 400."""
    headers = {**JSON, **auth(org_key), "Content-Encoding": "gzip"}
    resp = await client.post(collector.url + LOGS, content=sample_json, headers=headers)
    assert resp.status_code == 400
    assert "gzip" in str(json_status(resp)["message"])


# -- the pipeline's answers ----------------------------------------------------------------


async def test_partial_rejection_is_reported_in_partial_success(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """Records the pipeline refuses one by one come back as partial_success, with 200."""
    collector.exporter().fail_with = "partial"
    resp = await client.post(
        collector.url + LOGS, content=sample_json, headers={**JSON, **auth(org_key)}
    )
    assert resp.status_code == 200
    assert orjson.loads(resp.content) == {
        "partialSuccess": {"rejectedLogRecords": "1", "errorMessage": "one record too large"}
    }
    resp = await client.post(
        collector.url + LOGS, content=to_proto(sample_json), headers={**PROTO, **auth(org_key)}
    )
    partial = ExportLogsServiceResponse.FromString(resp.content).partial_success
    assert (partial.rejected_log_records, partial.error_message) == (1, "one record too large")


async def test_unavailable_downstream_is_503_with_retry_after(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """A retryable pipeline failure is 503 with the downstream's Retry-After."""
    collector.exporter().fail_with = "retryable"
    resp = await client.post(
        collector.url + LOGS, content=sample_json, headers={**JSON, **auth(org_key)}
    )
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "7"
    assert json_status(resp)["code"] == code_pb2.UNAVAILABLE


async def test_overload_is_429_with_retry_after(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """A full queue or saturated collector is 429 with Retry-After."""
    collector.exporter().fail_with = "overload"
    resp = await client.post(
        collector.url + LOGS, content=sample_json, headers={**JSON, **auth(org_key)}
    )
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "2"


async def test_permanent_pipeline_failure_is_400(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """Data the pipeline refuses for good is 400."""
    collector.exporter().fail_with = "permanent"
    resp = await client.post(
        collector.url + LOGS, content=sample_json, headers={**JSON, **auth(org_key)}
    )
    assert resp.status_code == 400


async def test_server_stays_up_after_refusals(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, sample_json: bytes
) -> None:
    """After malformed, unauthenticated and failing requests, a good request still succeeds."""
    headers = {**JSON, **auth(org_key)}
    await client.post(collector.url + LOGS, content=b"{", headers=headers)
    await client.post(collector.url + LOGS, content=sample_json, headers=JSON)
    collector.exporter().fail_with = "retryable"
    await client.post(collector.url + LOGS, content=sample_json, headers=headers)
    collector.exporter().fail_with = None
    resp = await client.post(collector.url + LOGS, content=sample_json, headers=headers)
    assert resp.status_code == 200
    assert len(collector.exporter().records) == 6


# -- configuration -------------------------------------------------------------------------


async def test_custom_logs_paths_replace_the_defaults(
    start_collector: StartCollector, keys_file: Path, org_key: str, client: httpx.AsyncClient
) -> None:
    """With ``logs_paths: [/ingest]`` only /ingest answers."""
    running = await start_collector(base_config(keys_file, logs_paths=["/ingest"]))
    headers = {**JSON, **auth(org_key)}
    assert (
        await client.post(running.url + "/ingest", content=b"{}", headers=headers)
    ).status_code == 200
    assert (
        await client.post(running.url + LOGS, content=b"{}", headers=headers)
    ).status_code == 404


async def test_tls_endpoint_serves_https(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    tmp_path: Path,
    sample_json: bytes,
) -> None:
    """With ``tls`` set, the receiver speaks HTTPS with the configured certificate."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    running = await start_collector(
        base_config(keys_file, tls={"cert_file": str(cert_file), "key_file": str(key_file)})
    )
    assert running.url.startswith("https://")
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file)) as tls_client:
        resp = await tls_client.post(
            running.url + LOGS, content=sample_json, headers={**JSON, **auth(org_key)}
        )
    assert resp.status_code == 200


async def test_requests_beyond_max_concurrent_requests_get_429(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """While one request holds the only slot, the next is refused with 429 and Retry-After,
    and the held one still succeeds."""
    running = await start_collector(base_config(keys_file, max_concurrent_requests=1))
    gate = asyncio.Event()
    running.exporter().gate = gate
    headers = {**JSON, **auth(org_key)}
    held = asyncio.create_task(
        client.post(running.url + LOGS, content=sample_json, headers=headers)
    )
    for _ in range(500):  # until the held request is inside the handler
        if _handler_busy(running):
            break
        await asyncio.sleep(0.01)
    refused = await client.post(running.url + LOGS, content=sample_json, headers=headers)
    gate.set()
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert (await held).status_code == 200
    assert len(running.exporter().records) == 6


def _handler_busy(running: RunningCollector) -> bool:
    receiver = next(iter(running.service.receivers.values()))
    return bool(receiver._handler._in_flight)


async def test_body_arriving_too_slowly_gets_408(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> None:
    """A body not received within read_timeout is answered 408 and the connection closed."""
    running = await start_collector(base_config(keys_file, read_timeout="300ms"))
    host, port = running.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST {LOGS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {org_key}\r\nContent-Length: 1000\r\n\r\n{{".encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 408")
