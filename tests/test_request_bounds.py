"""Work per request is bounded by what it may carry, not only by its size on the wire: a tiny
compressed body holding a million and a half empty records is refused with 413 before any
record is built, quickly and without the memory that building them would take, while other
clients are served. A real server on loopback."""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path

import httpx
import pytest
import zstandard
from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.conftest import RunningCollector, StartCollector, base_config

MANY = 1_500_000


def empty_records_proto(count: int) -> bytes:
    """An ExportLogsServiceRequest of one resource, one scope and ``count`` empty records."""
    records = b"\x12\x00" * count  # ScopeLogs.log_records (2), empty
    scope_logs = b"\x12" + _varint(len(records)) + records  # ResourceLogs.scope_logs (2)
    return b"\x0a" + _varint(len(scope_logs)) + scope_logs  # resource_logs (1)


def empty_records_json(count: int) -> bytes:
    return (
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[' + b",".join([b"{}"] * count) + b"]}]}]}"
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@pytest.fixture
async def running(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> RunningCollector:
    """The key exists before the collector starts, so it is known from the first request."""
    return await start_collector(base_config(keys_file, max_request_body_size="20MiB"))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("media", ["application/x-protobuf", "application/json"])
async def test_an_amplified_body_of_empty_records_is_413_without_building_them(
    running: RunningCollector, org_key: str, client: httpx.AsyncClient, media: str
) -> None:
    """1.5 million empty records in a zstd body of a few kilobytes: 413 naming the limit,
    within seconds (bounded by the client's timeout), peak memory up by far less than
    building them would take (gigabytes), and a normal request of another client served."""
    raw = empty_records_proto(MANY) if "protobuf" in media else empty_records_json(MANY)
    body = zstandard.ZstdCompressor().compress(raw)
    assert len(body) < 64 * 1024
    before = peak_rss_mib()
    headers = {"Content-Type": media, "Content-Encoding": "zstd",
               "Authorization": f"Bearer {org_key}"}  # fmt: skip
    bomb = client.post(running.url + "/v1/logs", content=body, headers=headers, timeout=30)
    small = client.post(
        running.url + "/v1/logs",
        content=empty_records_json(3),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {org_key}"},
        timeout=30,
    )
    refused, served = await asyncio.gather(bomb, small)
    assert refused.status_code == 413, refused.content[:200]
    assert b"max_records_per_request" in refused.content
    assert served.status_code == 200
    assert peak_rss_mib() - before < 400
    assert [len(b.records) for b in running.exporter().batches] == [3]


async def test_the_limit_is_configurable_and_counts_records(
    start_collector: StartCollector, keys_file: Path, org_key: str, client: httpx.AsyncClient
) -> None:
    """With max_records_per_request 10: 8 records (plus their resource and scope) pass,
    10 records are 413."""
    running = await start_collector(base_config(keys_file, max_records_per_request=10))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {org_key}"}
    ok = await client.post(running.url + "/v1/logs", content=empty_records_json(8),
                           headers=headers)  # fmt: skip
    assert ok.status_code == 200
    too_many = await client.post(running.url + "/v1/logs", content=empty_records_json(10),
                                 headers=headers)  # fmt: skip
    assert too_many.status_code == 413


def many_attributes_proto(count: int) -> bytes:
    """One record with ``count`` attributes of distinct keys and no value."""
    entries = b"".join(
        b"\x32" + _varint(len(kv)) + kv  # LogRecord.attributes (6): KeyValue{key}
        for kv in (b"\x0a" + _varint(len(k)) + k for k in (b"%x" % i for i in range(count)))
    )
    scope_logs = b"\x12" + _varint(len(entries)) + entries  # ScopeLogs.log_records (2)
    resource_logs = b"\x12" + _varint(len(scope_logs)) + scope_logs  # ResourceLogs.scope_logs
    return b"\x0a" + _varint(len(resource_logs)) + resource_logs  # resource_logs (1)


def many_attributes_json(count: int) -> bytes:
    attrs = b",".join(b'{"key":"%x"}' % i for i in range(count))
    return b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[' + attrs + b"]}]}]}]}"


@pytest.mark.parametrize("media", ["application/x-protobuf", "application/json"])
async def test_more_attributes_than_allowed_is_413_naming_the_setting(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    media: str,
) -> None:
    """With max_attributes_per_request 1000, a record of 1001 attributes is 413 naming
    the setting, and one of 1000 is stored."""
    running = await start_collector(base_config(keys_file, max_attributes_per_request=1000))
    build = many_attributes_proto if "protobuf" in media else many_attributes_json
    headers = {"Content-Type": media, "Authorization": f"Bearer {org_key}"}
    refused = await client.post(running.url + "/v1/logs", content=build(1001), headers=headers)
    assert refused.status_code == 413
    assert b"max_attributes_per_request" in refused.content
    accepted = await client.post(running.url + "/v1/logs", content=build(1000), headers=headers)
    assert accepted.status_code == 200
    (batch,) = running.exporter().batches
    assert len(batch.records[0].attributes) == 1000


def _request(record: LogRecord) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.append(record)
    return request


def _as(request: ExportLogsServiceRequest, media: str) -> bytes:
    if "protobuf" in media:
        return request.SerializeToString()
    return MessageToJson(request, indent=None).encode()


def body_array(count: int) -> ExportLogsServiceRequest:
    """One record whose body is an array of ``count`` empty values."""
    record = LogRecord()
    record.body.array_value.values.extend(AnyValue() for _ in range(count))
    return _request(record)


def nested_in_attribute(entries: int) -> ExportLogsServiceRequest:
    """One record with one attribute: a key-value list of ``entries`` entries, each an
    array of one value (1 + 2 x entries attributes and nested values)."""
    record = LogRecord()
    kvlist = record.attributes.add(key="a").value.kvlist_value
    for i in range(entries):
        kvlist.values.add(key=f"k{i}").value.array_value.values.add(string_value="v")
    return _request(record)


@pytest.mark.parametrize("media", ["application/x-protobuf", "application/json"])
async def test_values_nested_in_a_body_count_toward_the_attribute_bound(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    media: str,
) -> None:
    """With max_attributes_per_request 1000: a body array of 1001 values is 413 naming the
    setting; one of 1000 is accepted with all 1000."""
    running = await start_collector(base_config(keys_file, max_attributes_per_request=1000))
    headers = {"Content-Type": media, "Authorization": f"Bearer {org_key}"}
    url = running.url + "/v1/logs"
    refused = await client.post(url, content=_as(body_array(1001), media), headers=headers)
    assert refused.status_code == 413
    assert b"max_attributes_per_request" in refused.content
    accepted = await client.post(url, content=_as(body_array(1000), media), headers=headers)
    assert accepted.status_code == 200
    (batch,) = running.exporter().batches
    assert len(batch.records[0].body) == 1000  # type: ignore[arg-type]


@pytest.mark.parametrize("media", ["application/x-protobuf", "application/json"])
async def test_values_nested_in_attributes_count_toward_the_attribute_bound(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    media: str,
) -> None:
    """With max_attributes_per_request 1000: an attribute holding a key-value list of 500
    arrays of one value (1,001 in all) is 413; of 499 arrays (999) it is accepted."""
    running = await start_collector(base_config(keys_file, max_attributes_per_request=1000))
    headers = {"Content-Type": media, "Authorization": f"Bearer {org_key}"}
    url = running.url + "/v1/logs"
    refused = await client.post(url, content=_as(nested_in_attribute(500), media),
                                headers=headers)  # fmt: skip
    assert refused.status_code == 413
    assert b"max_attributes_per_request" in refused.content
    accepted = await client.post(url, content=_as(nested_in_attribute(499), media),
                                 headers=headers)  # fmt: skip
    assert accepted.status_code == 200


async def test_attributes_of_one_key_repeated_all_count(
    start_collector: StartCollector, keys_file: Path, org_key: str, client: httpx.AsyncClient
) -> None:
    """Protobuf keeps the last of repeated keys, but each repeat was sent and parsed: 1001
    attributes all named ``k`` are 413 under max_attributes_per_request 1000."""
    running = await start_collector(base_config(keys_file, max_attributes_per_request=1000))
    record = LogRecord()
    for i in range(1001):
        record.attributes.add(key="k").value.int_value = i
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {org_key}"}
    refused = await client.post(running.url + "/v1/logs",
                                content=_request(record).SerializeToString(),
                                headers=headers)  # fmt: skip
    assert refused.status_code == 413
    assert b"max_attributes_per_request" in refused.content


@pytest.mark.parametrize("media", ["application/x-protobuf", "application/json"])
async def test_an_amplified_body_of_nested_values_is_413_by_default(
    running: RunningCollector, org_key: str, client: httpx.AsyncClient, media: str
) -> None:
    """A zstd body of a few kilobytes holding one record whose body is an array of three
    million empty values: 413 by the default bound (2,000,000), peak memory up by far less
    than storing them would take, nothing passed on."""
    raw = _as(body_array(3_000_000), media)
    body = zstandard.ZstdCompressor().compress(raw)
    assert len(body) < 64 * 1024
    before = peak_rss_mib()
    headers = {"Content-Type": media, "Content-Encoding": "zstd",
               "Authorization": f"Bearer {org_key}"}  # fmt: skip
    refused = await client.post(running.url + "/v1/logs", content=body, headers=headers,
                                timeout=30)  # fmt: skip
    assert refused.status_code == 413, refused.content[:200]
    assert b"max_attributes_per_request" in refused.content
    assert peak_rss_mib() - before < 400
    assert running.exporter().batches == []
