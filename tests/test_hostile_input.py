"""Hostile input: the OTLP decoders fuzzed directly with hypothesis, and a real collector on a
loopback port fed random, mutated, malformed, deeply nested, oversized, compressed-bomb and
slow requests by a real HTTP client (or a raw socket where HTTP itself is the attack).

The rules checked: a decoder either returns records or raises ``DecodeError``, nothing else;
the server answers every such request with a 4xx (never a 5xx, never a crash or a hang), and
keeps serving normal exports afterwards. Every loop is bounded and the hypothesis runs are
derandomized, so the file runs the same way, in well under a minute, on every CI run.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import random
import time
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import zstandard
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from collector.consumererror import DecodeError
from collector.pdata import otlp_json, otlp_proto
from collector.pdata.records import LogBatch
from collector.pdata.records import LogRecord as Record
from tests.conftest import RunningCollector, StartCollector, base_config

LOGS = "/v1/logs"
COWORK = "/api/v1/hooks/cowork/otlp/v1/logs"
JSON = "application/json"
PROTO = "application/x-protobuf"
MiB = 1024 * 1024
LIMIT = 20 * MiB  # the receiver's default max_request_body_size
ALLOWED = frozenset({200, 400, 413})

SAMPLE_JSON = (
    Path(__file__).parent / "data" / "claude-code-2.1.197-session.otlp.json"
).read_bytes()
SAMPLE_PROTO = json_format.Parse(SAMPLE_JSON, ExportLogsServiceRequest()).SerializeToString()

FUZZ: dict[str, Any] = {
    "derandomize": True,  # the same examples on every run: CI never flakes on a new seed
    "database": None,  # and nothing is written to .hypothesis/
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


# -- helpers -------------------------------------------------------------------------------


def decodes_or_refuses(decode: Callable[[bytes], list[Record]], data: bytes) -> None:
    """``decode(data)`` raises DecodeError (with a message) or returns records that the
    pipeline can carry: every one re-encodes as OTLP protobuf and JSON."""
    try:
        records = decode(data)
    except DecodeError as exc:
        assert exc.message
        return
    assert isinstance(records, list)
    assert all(isinstance(r, Record) for r in records)
    batch = LogBatch("fuzz", records)
    otlp_proto.encode_request(batch)
    otlp_json.encode_request(batch)


def mutate(data: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    """Apply byte-level mutations: flip a bit, set, insert or delete a byte, truncate, or
    duplicate a short run (positions wrap around the current length)."""
    buf = bytearray(data)
    for op, pos, byte in mutations:
        i = pos % (len(buf) + 1)
        if op == "insert":
            buf.insert(i, byte)
        elif not buf:
            continue
        elif op == "truncate":
            del buf[i:]
        elif op == "duplicate":
            buf[i:i] = buf[i : i + 1 + byte % 16]
        else:
            i %= len(buf)
            if op == "flip":
                buf[i] ^= 1 << (byte % 8)
            elif op == "set":
                buf[i] = byte
            else:
                del buf[i]
    return bytes(buf)


MUTATION_OPS = ("flip", "set", "insert", "delete", "truncate", "duplicate")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def post(
    client: httpx.AsyncClient,
    running: RunningCollector,
    key: str,
    body: bytes | AsyncIterator[bytes],
    media: str = JSON,
    encoding: str | None = None,
    path: str = LOGS,
) -> httpx.Response:
    headers = {"Content-Type": media, **auth(key)}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    return await client.post(running.url + path, content=body, headers=headers)


async def assert_still_serves(
    running: RunningCollector, client: httpx.AsyncClient, key: str
) -> None:
    """A normal export of the sample gets 200 and its six records reach the exporter."""
    running.exporter().batches.clear()
    resp = await post(client, running, key, SAMPLE_JSON)
    assert resp.status_code == 200, resp.content
    assert len(running.exporter().records) == 6
    resp = await post(client, running, key, SAMPLE_PROTO, PROTO)
    assert resp.status_code == 200, resp.content
    assert len(running.exporter().records) == 12


def assert_status_body(resp: httpx.Response, media: str) -> None:
    """A refusal carries a google.rpc.Status in the request's encoding."""
    if media == PROTO:
        assert resp.headers["content-type"] == PROTO
        status = status_pb2.Status.FromString(resp.content)
        code, message = status.code, status.message
    else:
        assert resp.headers["content-type"] == JSON
        doc = orjson.loads(resp.content)
        code, message = doc["code"], doc["message"]
    assert code in (code_pb2.INVALID_ARGUMENT, code_pb2.RESOURCE_EXHAUSTED)
    assert message


def wrap_json_record(record: str) -> bytes:
    """One log record (JSON text) inside an ExportLogsServiceRequest."""
    return f'{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{record}]}}]}}]}}'.encode()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(number: int) -> bytes:
    return _varint(number << 3 | 2)  # wire type 2: length-delimited


def _field(number: int, payload: bytes) -> bytes:
    return _tag(number) + _varint(len(payload)) + payload


def _num(message: Any, name: str) -> int:
    return int(message.DESCRIPTOR.fields_by_name[name].number)


def wrap_proto_record(record: bytes) -> bytes:
    """One serialized LogRecord inside an ExportLogsServiceRequest, built by hand."""
    scope_logs = _field(_num(ScopeLogs, "log_records"), record)
    resource_logs = _field(_num(ResourceLogs, "scope_logs"), scope_logs)
    return _field(_num(ExportLogsServiceRequest, "resource_logs"), resource_logs)


def nested_json(levels: int, kind: str) -> bytes:
    """A record whose body is an AnyValue nested ``levels`` deep, built as text."""
    if kind == "array":
        head, tail = '{"arrayValue":{"values":[', "]}}"
    else:
        head, tail = '{"kvlistValue":{"values":[{"key":"k","value":', "}]}}"
    return wrap_json_record(
        '{"body":' + head * levels + '{"stringValue":"x"}' + tail * levels + "}"
    )


def nested_proto(levels: int, kind: str) -> bytes:
    """The same in protobuf, framed by hand: the protobuf library itself refuses to build (or
    parse) an AnyValue nested deeper than upb's depth limit of about 100 messages."""
    inner = _field(_num(AnyValue, "string_value"), b"x")
    size = len(inner)
    headers: list[bytes] = []  # outermost last
    for _ in range(levels):
        if kind == "array":
            values = _tag(_num(ArrayValue, "values")) + _varint(size)
            size += len(values)
            any_value = _tag(_num(AnyValue, "array_value")) + _varint(size)
            size += len(any_value)
            headers.append(any_value + values)
        else:
            key = _field(_num(KeyValue, "key"), b"k")
            value = _tag(_num(KeyValue, "value")) + _varint(size)
            size += len(key) + len(value)
            values = _tag(_num(KeyValueList, "values")) + _varint(size)
            size += len(values)
            any_value = _tag(_num(AnyValue, "kvlist_value")) + _varint(size)
            size += len(any_value)
            headers.append(any_value + values + key + value)
    body = b"".join(reversed(headers)) + inner
    return wrap_proto_record(_field(_num(LogRecord, "body"), body))


@functools.cache
def gzip_bomb() -> bytes:
    """1 GiB of zeros as gzip (about 1 MiB), compressed 1 MiB at a time."""
    zeros = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS, 9, zlib.Z_RLE)
    parts = [compressor.compress(zeros) for _ in range(1024)]
    parts.append(compressor.flush())
    return b"".join(parts)


@functools.cache
def zstd_bomb() -> bytes:
    """1 GiB of zeros as zstd (about 32 KiB), compressed 1 MiB at a time."""
    zeros = bytes(MiB)
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    parts = [compressor.compress(zeros) for _ in range(1024)]
    parts.append(compressor.flush())
    return b"".join(parts)


def compress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return zlib.compress(body, wbits=16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "zstd":
        return zstandard.ZstdCompressor().compress(body)
    return body


async def raw_request(running: RunningCollector, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes on a fresh connection and return the status line of the answer."""
    host, port = running.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + body)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), timeout=10)
    finally:
        writer.close()


def request_head(key: str, extra: str = "", length: int = 2, path: str = LOGS) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


# -- hostile values and OTLP-shaped JSON ----------------------------------------------------

OTLP_KEYS = (
    "resourceLogs", "resource", "attributes", "droppedAttributesCount", "schemaUrl",
    "scopeLogs", "scope", "name", "version", "logRecords", "timeUnixNano",
    "observedTimeUnixNano", "severityNumber", "severityText", "body", "flags", "traceId",
    "spanId", "eventName", "key", "value", "stringValue", "intValue", "boolValue",
    "doubleValue", "bytesValue", "arrayValue", "kvlistValue", "values",
)  # fmt: skip

HOSTILE: tuple[Any, ...] = (
    None, True, False, 0, -1, 1.5, -0.0, 1e308, -1e308, 2**31, -(2**31) - 1, 2**32, 2**63,
    -(2**63) - 1, 2**64, -(2**64), 10**30, -(10**30), 10**4000,
    "", "x", "-1", "1.5", " 7", "0x10", "1e3", "NaN", "Infinity", "-Infinity",
    "18446744073709551616", "-9223372036854775809", "9" * 5000, "zz" * 8, "0" * 31,
    "SEVERITY_NUMBER_INFO", "====", "-_-_", "\u00e9\u00e9", "\U0001f600",
    {}, [], [None], [{}], [1, "a"], {"stringValue": 1}, {"intValue": {}},
    {"arrayValue": []}, {"kvlistValue": {"values": {}}}, {"values": [{"key": None}]},
)  # fmt: skip


def otlp_skeleton() -> dict[str, Any]:
    """A valid export using every field of every message, each AnyValue kind included."""
    any_values = [
        {"stringValue": "s"},
        {"intValue": "-7"},
        {"boolValue": True},
        {"doubleValue": 1.25},
        {"bytesValue": "AAEC"},
        {"arrayValue": {"values": [{"intValue": 1}, {"stringValue": "two"}]}},
        {"kvlistValue": {"values": [{"key": "inner", "value": {"boolValue": False}}]}},
        {},
    ]
    attributes = [{"key": f"a{i}", "value": v} for i, v in enumerate(any_values)]
    record = {
        "timeUnixNano": "1764187698629000000",
        "observedTimeUnixNano": 1764187698629000001,
        "severityNumber": 9,
        "severityText": "INFO",
        "body": {"stringValue": "claude_code.user_prompt"},
        "attributes": attributes,
        "droppedAttributesCount": 1,
        "flags": 1,
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "eventName": "user_prompt",
    }
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": attributes[:2], "droppedAttributesCount": 0},
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                "scopeLogs": [
                    {
                        "scope": {
                            "name": "com.anthropic.claude_code",
                            "version": "2.1.197",
                            "attributes": attributes[2:4],
                            "droppedAttributesCount": 0,
                        },
                        "schemaUrl": "",
                        "logRecords": [record, {"body": {"intValue": 1}}],
                    }
                ],
            }
        ]
    }


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


SKELETON_PATHS = _paths(otlp_skeleton())


def replace_at(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set the node at ``path`` to ``value``, if that path still exists in ``doc``."""
    node = doc
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return
    last = path[-1]
    if (isinstance(node, dict) and isinstance(last, str)) or (
        isinstance(node, list) and isinstance(last, int) and last < len(node)
    ):
        node[last] = copy.deepcopy(value)  # HOSTILE's objects are shared: never alias them


def to_json(doc: Any) -> bytes:
    """JSON text; the standard library writes integers of any size, unlike orjson."""
    return json.dumps(doc, ensure_ascii=False).encode()


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(HOSTILE)
)
json_documents = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(OTLP_KEYS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=40,
)
mutations = st.lists(
    st.tuples(
        st.sampled_from(MUTATION_OPS),
        st.integers(min_value=0, max_value=1 << 24),
        st.integers(min_value=0, max_value=255),
    ),
    min_size=1,
    max_size=8,
)


# -- 1. the decoders, fuzzed directly --------------------------------------------------------


@settings(max_examples=1500, deadline=None, **FUZZ)
@given(data=st.binary(max_size=2048))
def test_protobuf_decoder_on_random_bytes_returns_records_or_raises_decode_error(
    data: bytes,
) -> None:
    """Random bytes given to the protobuf decoder yield records or a DecodeError, nothing else."""
    decodes_or_refuses(otlp_proto.decode_request, data)


@settings(max_examples=1500, deadline=None, **FUZZ)
@given(data=st.binary(max_size=2048))
def test_json_decoder_on_random_bytes_returns_records_or_raises_decode_error(data: bytes) -> None:
    """Random bytes given to the JSON decoder yield records or a DecodeError, nothing else."""
    decodes_or_refuses(otlp_json.decode_request, data)


@settings(max_examples=800, deadline=None, **FUZZ)
@given(changes=mutations)
def test_protobuf_decoder_on_mutated_sample_returns_records_or_raises_decode_error(
    changes: list[tuple[str, int, int]],
) -> None:
    """The real sample as protobuf, with bytes flipped, inserted or deleted, yields records or
    a DecodeError, nothing else."""
    decodes_or_refuses(otlp_proto.decode_request, mutate(SAMPLE_PROTO, changes))


@settings(max_examples=600, deadline=None, **FUZZ)
@given(changes=mutations)
def test_json_decoder_on_mutated_sample_returns_records_or_raises_decode_error(
    changes: list[tuple[str, int, int]],
) -> None:
    """The real sample as JSON text, with bytes flipped, inserted or deleted, yields records or
    a DecodeError, nothing else."""
    decodes_or_refuses(otlp_json.decode_request, mutate(SAMPLE_JSON, changes))


@settings(max_examples=300, deadline=None, **FUZZ)
@given(doc=json_documents)
def test_json_decoder_on_random_json_documents_returns_records_or_raises_decode_error(
    doc: Any,
) -> None:
    """Any JSON document (random values, objects keyed with OTLP field names) yields records or
    a DecodeError, nothing else, both as the whole body and as the resourceLogs array."""
    decodes_or_refuses(otlp_json.decode_request, to_json(doc))
    decodes_or_refuses(otlp_json.decode_request, to_json({"resourceLogs": [doc]}))


@settings(max_examples=500, deadline=None, **FUZZ)
@given(
    replacements=st.lists(
        st.tuples(st.sampled_from(SKELETON_PATHS), st.sampled_from(HOSTILE) | json_documents),
        min_size=1,
        max_size=3,
    )
)
def test_json_decoder_on_otlp_shaped_json_with_wrong_types_returns_records_or_decode_error(
    replacements: list[tuple[tuple[Any, ...], Any]],
) -> None:
    """A valid OTLP/JSON export with wrong types put in any field position (strings for
    integers, objects for arrays, huge or negative numbers, nulls) yields records or a
    DecodeError, nothing else."""
    doc = otlp_skeleton()
    for path, value in replacements:
        replace_at(doc, path, value)
    decodes_or_refuses(otlp_json.decode_request, to_json(doc))


def test_hand_built_nested_bodies_decode_as_intended_when_shallow() -> None:
    """The hand-built nested protobuf and JSON bodies used below are well formed: three levels
    decode to three nested arrays or maps."""
    for decode, build in (
        (otlp_proto.decode_request, nested_proto),
        (otlp_json.decode_request, nested_json),
    ):
        assert [r.body for r in decode(build(3, "array"))] == [[[["x"]]]]
        assert [r.body for r in decode(build(3, "kvlist"))] == [{"k": {"k": {"k": "x"}}}]


#: the deepest body each encoding accepts: one limit, protobuf's (records.MAX_MESSAGE_DEPTH)
BODY_LIMITS = {"array": 48, "kvlist": 32}


@pytest.mark.parametrize("kind", sorted(BODY_LIMITS))
def test_both_encodings_share_one_nesting_limit(kind: str) -> None:
    """A body nested to the limit decodes from JSON and from protobuf, and the JSON one
    re-encoded to protobuf decodes again (as the Kafka and disk-queue stages do); one level
    more is a DecodeError in both encodings."""
    limit = BODY_LIMITS[kind]
    assert otlp_proto.decode_request(nested_proto(limit, kind))
    (record,) = otlp_json.decode_request(nested_json(limit, kind))
    again = otlp_proto.decode_request(otlp_proto.encode_request(LogBatch("t", [record])))
    assert again[0].body == record.body
    with pytest.raises(DecodeError):
        otlp_proto.decode_request(nested_proto(limit + 1, kind))
    with pytest.raises(DecodeError, match="nested deeper than protobuf allows"):
        otlp_json.decode_request(nested_json(limit + 1, kind))


# -- 2. random and mutated bodies against the real server ------------------------------------


def _random_json_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth >= 4 or roll < 0.4:
        return rng.choice(HOSTILE)
    if roll < 0.7:
        return [_random_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(OTLP_KEYS): _random_json_value(rng, depth + 1) for _ in range(rng.randrange(5))
    }


def random_body(rng: random.Random, media: str) -> bytes:
    """A random body: bytes, a mutated sample, a random JSON document, or the skeleton with
    wrong types, in ``media``'s encoding when that makes sense."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(2048))
    if kind == 1:
        changes = [
            (rng.choice(MUTATION_OPS), rng.randrange(1 << 24), rng.randrange(256))
            for _ in range(rng.randrange(1, 9))
        ]
        return mutate(SAMPLE_PROTO if media == PROTO else SAMPLE_JSON, changes)
    if kind == 2:
        return to_json(_random_json_value(rng))
    doc = otlp_skeleton()
    for _ in range(rng.randrange(1, 4)):
        replace_at(doc, rng.choice(SKELETON_PATHS), rng.choice(HOSTILE))
    text = to_json(doc)
    if media == PROTO:  # the same document through the protobuf JSON mapping, when it can be
        try:
            return json_format.Parse(text, ExportLogsServiceRequest()).SerializeToString()
        except (json_format.ParseError, ValueError, TypeError, RecursionError):
            return text
    return text


async def test_stream_of_random_and_mutated_bodies_never_gets_a_5xx(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    """200 random and mutated bodies, as JSON and protobuf, plain or compressed (sometimes
    corruptly), always get 200, 400 or 413, and a normal export of the sample still gets 200
    with its six records afterwards."""
    rng = random.Random(0x5E55)
    seen: dict[int, int] = {}
    for i in range(200):
        media = rng.choice((JSON, PROTO))
        body = random_body(rng, media)
        encoding = rng.choice((None, None, None, "gzip", "deflate", "zstd"))
        if encoding is not None:
            compressed = compress(body, encoding)
            roll = rng.random()
            if roll < 0.2:
                compressed = compressed[: rng.randrange(len(compressed) + 1)]
            elif roll < 0.4:
                compressed = mutate(compressed, [("flip", rng.randrange(1 << 24), 0)])
            elif roll < 0.5:
                compressed = body  # claims a Content-Encoding it does not have
            body = compressed
        resp = await post(
            client, collector, org_key, body, media, encoding, rng.choice((LOGS, COWORK))
        )
        assert resp.status_code in ALLOWED, (i, media, encoding, body[:200], resp.content[:300])
        if resp.status_code != 200:
            assert_status_body(resp, media)
        seen[resp.status_code] = seen.get(resp.status_code, 0) + 1
    assert seen.get(400, 0) > 50  # the stream really was hostile
    await assert_still_serves(collector, client, org_key)


# -- 3. specific hostile requests ------------------------------------------------------------


@pytest.mark.parametrize(
    ("media", "kind", "levels"),
    [
        (JSON, "array", 10_000),
        (JSON, "kvlist", 10_000),
        (JSON, "array", 300),  # within orjson's depth limit, beyond the one nesting limit
        (JSON, "kvlist", 300),
        (PROTO, "array", 10_000),
        (PROTO, "kvlist", 10_000),
        (PROTO, "array", 60),  # beyond upb's depth limit, below 10_000 by far
    ],
    ids=[
        "json-array-10000",
        "json-kvlist-10000",
        "json-array-300",
        "json-kvlist-300",
        "proto-array-10000",
        "proto-kvlist-10000",
        "proto-array-60",
    ],
)
async def test_deeply_nested_any_value_is_400(
    collector: RunningCollector,
    client: httpx.AsyncClient,
    org_key: str,
    media: str,
    kind: str,
    levels: int,
) -> None:
    """An AnyValue body nested thousands of levels deep is 400 with a Status, not a crash."""
    body = nested_json(levels, kind) if media == JSON else nested_proto(levels, kind)
    resp = await post(client, collector, org_key, body, media)
    assert resp.status_code == 400, resp.content[:300]
    assert_status_body(resp, media)
    assert collector.exporter().batches == []
    await assert_still_serves(collector, client, org_key)


def many_attributes(media: str, count: int) -> bytes:
    if media == JSON:
        attrs = ",".join(f'{{"key":"k{i}","value":{{"stringValue":"v{i}"}}}}' for i in range(count))
        return wrap_json_record(f'{{"attributes":[{attrs}]}}')
    kv = _num(KeyValue, "key"), _num(KeyValue, "value"), _num(AnyValue, "string_value")
    attributes = _num(LogRecord, "attributes")
    record = b"".join(
        _field(attributes, _field(kv[0], b"k%d" % i) + _field(kv[1], _field(kv[2], b"v%d" % i)))
        for i in range(count)
    )
    return wrap_proto_record(record)


@pytest.mark.parametrize("media", [JSON, PROTO], ids=["json", "protobuf"])
async def test_100k_attributes_on_one_record_are_answered_without_a_5xx(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, media: str
) -> None:
    """One record with 100,000 attributes (within the 20 MiB limit) is answered 200 or 413,
    never 5xx, and the request completes."""
    body = many_attributes(media, 100_000)
    assert len(body) < LIMIT
    resp = await post(client, collector, org_key, body, media)
    assert resp.status_code in (200, 413), resp.content[:300]
    if resp.status_code == 200:
        (record,) = collector.exporter().records
        assert len(record.attributes) == 100_000  # type: ignore[attr-defined]
    await assert_still_serves(collector, client, org_key)


def huge_string_body(media: str, size: int) -> bytes:
    if media == JSON:
        text = "a" * size
        return wrap_json_record(
            f'{{"body":{{"stringValue":"{text}"}},'
            f'"attributes":[{{"key":"big","value":{{"stringValue":"{text[: size // 8]}"}}}}]}}'
        )
    string_value = _num(AnyValue, "string_value")
    body = _field(_num(LogRecord, "body"), _field(string_value, b"a" * size))
    kv = _field(_num(KeyValue, "key"), b"big") + _field(
        _num(KeyValue, "value"), _field(string_value, b"a" * (size // 8))
    )
    return wrap_proto_record(body + _field(_num(LogRecord, "attributes"), kv))


@pytest.mark.parametrize("media", [JSON, PROTO], ids=["json", "protobuf"])
async def test_15_mib_string_within_the_limit_is_accepted(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, media: str
) -> None:
    """A 15 MiB string body (plus a 1.9 MiB attribute) under the 20 MiB limit is 200 and
    arrives whole."""
    size = 15 * MiB
    resp = await post(client, collector, org_key, huge_string_body(media, size), media)
    assert resp.status_code == 200, resp.content[:300]
    (record,) = collector.exporter().records
    assert len(record.body) == size  # type: ignore[attr-defined]
    assert len(record.attributes["big"]) == size // 8  # type: ignore[attr-defined]
    await assert_still_serves(collector, client, org_key)


async def test_body_exactly_at_the_limit_is_read_and_one_byte_more_is_413(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    """A body of exactly max_request_body_size is decoded (200); one byte more is 413, whether
    declared by Content-Length or streamed in chunks without one."""
    at_limit = b"{}" + b" " * (LIMIT - 2)
    resp = await post(client, collector, org_key, at_limit)
    assert resp.status_code == 200, resp.content[:300]

    resp = await post(client, collector, org_key, at_limit + b" ")
    assert resp.status_code == 413
    assert_status_body(resp, JSON)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"{}"
        for _ in range(21):
            yield b" " * MiB

    resp = await post(client, collector, org_key, chunks(), PROTO)
    assert resp.status_code == 413
    assert_status_body(resp, PROTO)
    assert collector.exporter().batches == []
    await assert_still_serves(collector, client, org_key)


def invalid_utf8_proto(field: str) -> bytes:
    """A protobuf export whose string ``field`` holds bytes that are not UTF-8."""
    mark = "~~~~"
    record: dict[str, Any] = {}
    resource: dict[str, Any] = {}
    scope: dict[str, Any] = {}
    if field == "severity_text":
        record["severityText"] = mark
    elif field == "event_name":
        record["eventName"] = mark
    elif field == "body":
        record["body"] = {"stringValue": mark}
    elif field == "attribute_key":
        record["attributes"] = [{"key": mark, "value": {"intValue": "1"}}]
    elif field == "nested_value":
        record["body"] = {"arrayValue": {"values": [{"stringValue": mark}]}}
    elif field == "resource_attribute":
        resource["attributes"] = [{"key": "service.name", "value": {"stringValue": mark}}]
    elif field == "scope_name":
        scope["name"] = mark
    doc = {
        "resourceLogs": [
            {"resource": resource, "scopeLogs": [{"scope": scope, "logRecords": [record]}]}
        ]
    }
    data = json_format.Parse(orjson.dumps(doc), ExportLogsServiceRequest()).SerializeToString()
    assert data.count(mark.encode()) == 1
    return data.replace(mark.encode(), b"\xff\xfe\xc0\xaf")  # same length: framing stays valid


INVALID_UTF8_JSON = {
    "lone-ff": b"a\xffb",
    "bad-continuation": b"\xc3\x28",
    "utf8-encoded-surrogate": b"\xed\xa0\x80",
    "overlong-slash": b"\xc0\xaf",
    "truncated-sequence": b"ab\xe2\x82",
    "escaped-lone-surrogate": b"\\ud800",
}


@pytest.mark.parametrize("bad", INVALID_UTF8_JSON.values(), ids=INVALID_UTF8_JSON.keys())
@pytest.mark.parametrize("where", ["value", "key"])
async def test_invalid_utf8_inside_a_json_string_is_400(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, bad: bytes, where: str
) -> None:
    """A JSON string (an attribute key or a string value) holding bytes that are not UTF-8,
    or an escaped lone surrogate, is 400."""
    key, value = (b"k", bad) if where == "value" else (bad, b"v")
    body = (
        wrap_json_record('{"attributes":[{"key":"KEY","value":{"stringValue":"VALUE"}}]}')
        .replace(b"KEY", key)
        .replace(b"VALUE", value)
    )
    resp = await post(client, collector, org_key, body)
    assert resp.status_code == 400, resp.content[:300]
    assert_status_body(resp, JSON)
    assert collector.exporter().batches == []


@pytest.mark.parametrize(
    "field",
    [
        "severity_text",
        "event_name",
        "body",
        "attribute_key",
        "nested_value",
        "resource_attribute",
        "scope_name",
    ],
)
async def test_invalid_utf8_inside_a_protobuf_string_field_is_400(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, field: str
) -> None:
    """A protobuf string field (proto3: UTF-8 required) holding bytes that are not UTF-8 is
    400 with a protobuf Status."""
    resp = await post(client, collector, org_key, invalid_utf8_proto(field), PROTO)
    assert resp.status_code == 400, resp.content[:300]
    assert_status_body(resp, PROTO)
    assert collector.exporter().batches == []


_BAD_INTEGERS = ["soon", "-1", -1, 1.5, True, {}, [], "1e3", 2**64, "18446744073709551616",
                 "9" * 5000]  # fmt: skip
_BAD_STRINGS = [1, 1.5, True, {}, [], ["a"], {"stringValue": "a"}]
WRONG_TYPES: dict[str, list[Any]] = {
    "timeUnixNano": _BAD_INTEGERS,
    "observedTimeUnixNano": _BAD_INTEGERS,
    "severityNumber": ["LOUD", 1.5, True, {}, [], 2**31, -(2**31) - 1, "99999999999"],
    "severityText": _BAD_STRINGS,
    "body": [
        "text",
        1,
        True,
        [],
        [{}],
        {"stringValue": 1},
        {"intValue": "x"},
        {"intValue": 2**63},
        {"boolValue": "true"},
        {"doubleValue": "abc"},
        {"doubleValue": True},
        {"bytesValue": "***"},
        {"bytesValue": 7},
        {"arrayValue": []},
        {"arrayValue": {"values": {}}},
        {"kvlistValue": "x"},
        {"kvlistValue": {"values": [{"key": 1}]}},
    ],
    "attributes": [
        {},
        "x",
        1,
        True,
        [1],
        ["x"],
        [None],
        [{"key": 1}],
        [{"key": None}],
        [{"key": "k", "value": "v"}],
        [{"key": "k", "value": []}],
        [{"key": "k", "value": {"intValue": "-9223372036854775809"}}],
    ],
    "droppedAttributesCount": [-1, 2**32, "x", 1.5, True, {}, []],
    "flags": [-1, 2**32, "x", 1.5, True, {}, []],
    "traceId": [1, True, {}, [], "xyz", "00", "0" * 31, "0" * 34, "g" * 32],
    "spanId": [1, True, {}, [], "xyz", "00", "0" * 15, "0" * 18, "g" * 16],
    "eventName": _BAD_STRINGS,
}


@pytest.mark.parametrize("field", WRONG_TYPES)
async def test_wrong_type_in_a_log_record_field_is_400_pointing_at_the_record(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, field: str
) -> None:
    """Each field of a log record given a value of the wrong type or out of range is 400, and
    the reason points at the record."""
    for value in WRONG_TYPES[field]:
        body = wrap_json_record(to_json({"eventName": "user_prompt", field: value}).decode())
        resp = await post(client, collector, org_key, body)
        assert resp.status_code == 400, (value, resp.content[:300])
        assert_status_body(resp, JSON)
        message = orjson.loads(resp.content)["message"]
        assert "logRecords[0]." in message, (value, message)
    assert collector.exporter().batches == []
    await assert_still_serves(collector, client, org_key)


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
@pytest.mark.parametrize("media", [JSON, PROTO], ids=["json", "protobuf"])
async def test_1_gib_decompression_bomb_is_413(
    collector: RunningCollector,
    client: httpx.AsyncClient,
    org_key: str,
    encoding: str,
    media: str,
) -> None:
    """1 GiB of zeros compressed to about 1 MiB (gzip) or 32 KiB (zstd) is 413: the receiver
    stops inflating at max_request_body_size."""
    bomb = gzip_bomb() if encoding == "gzip" else zstd_bomb()
    assert len(bomb) < 2 * MiB
    resp = await post(client, collector, org_key, bomb, media, encoding)
    assert resp.status_code == 413, resp.content[:300]
    assert_status_body(resp, media)
    assert collector.exporter().batches == []
    await assert_still_serves(collector, client, org_key)


@pytest.fixture
async def slow_collector(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> RunningCollector:
    """A collector that allows 500 ms to receive a body."""
    return await start_collector(base_config(keys_file, read_timeout="500ms"))


@pytest.mark.parametrize("trickle", [False, True], ids=["stalled", "trickling"])
async def test_body_that_never_finishes_gets_408_and_the_server_keeps_serving(
    slow_collector: RunningCollector, client: httpx.AsyncClient, org_key: str, trickle: bool
) -> None:
    """A body that stops arriving, or trickles in a byte at a time and never ends, gets 408
    after read_timeout with ``Connection: close``, and other requests are still served."""
    host, port = slow_collector.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request_head(org_key, length=10_000) + b'{"resourceLogs":[')
        await writer.drain()
        status = asyncio.create_task(reader.readline())
        for _ in range(100):  # at most 10 s
            if status.done():
                break
            if trickle:
                writer.write(b" ")
                await writer.drain()
            await asyncio.sleep(0.1)
        status_line = await asyncio.wait_for(status, timeout=1)
        assert status_line.startswith(b"HTTP/1.1 408"), status_line
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        assert b"Connection: close" in head, head
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        status_body = await asyncio.wait_for(reader.readexactly(length), timeout=5)
        assert b"timed out" in status_body
    finally:
        writer.close()
    assert slow_collector.exporter().batches == []
    await assert_still_serves(slow_collector, client, org_key)


HEADER_ABUSE = {
    "200-headers": "".join(f"X-Pad-{i}: {i}\r\n" for i in range(200)),
    "10000-headers": "".join(f"X-Pad-{i}: {i}\r\n" for i in range(10_000)),
    "8-kib-header-value": "X-Pad: " + "a" * (8 * 1024 + 1) + "\r\n",
    "64-kib-header-value": "X-Pad: " + "a" * (64 * 1024) + "\r\n",
    "8-kib-header-name": "X-" + "a" * (8 * 1024 + 1) + ": 1\r\n",
}


@pytest.mark.parametrize("extra", HEADER_ABUSE.values(), ids=HEADER_ABUSE.keys())
async def test_too_many_or_too_long_headers_get_a_4xx_and_the_server_keeps_serving(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str, extra: str
) -> None:
    """Hundreds of header lines, or one header line longer than 8 KiB, are refused with a 4xx
    by the HTTP parser, and the next request is served normally."""
    status_line = await raw_request(collector, request_head(org_key, extra), b"{}")
    # aiohttp 3.14's parser answers all of these "HTTP/1.0 400 Bad Request"; 431 would do too
    assert status_line.split()[1] in (b"400", b"431"), status_line
    assert collector.exporter().batches == []
    await assert_still_serves(collector, client, org_key)


async def test_request_line_longer_than_8_kib_gets_a_4xx_and_the_server_keeps_serving(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    """A request target longer than 8 KiB is refused with a 4xx by the HTTP parser."""
    head = request_head(org_key, path=LOGS + "?" + "a" * (8 * 1024 + 1))
    status_line = await raw_request(collector, head, b"{}")
    assert status_line.split()[1] in (b"400", b"414"), status_line
    await assert_still_serves(collector, client, org_key)


HOSTILE_HEADERS: dict[str, tuple[bytes, int]] = {
    "non-utf8-key": (b"Authorization: Bearer sck_\xff\xfe\xfd\r\n", 401),
    "8-kib-key": (b"Authorization: Bearer sck_" + b"a" * 8000 + b"\r\n", 401),
    "bearer-only": (b"Authorization: Bearer \r\n", 401),
    "two-authorizations": (
        b"Authorization: Bearer x\r\nAuthorization: Bearer y\r\n",
        400,
    ),  # ambiguous: refused, not first-wins
    "nul-in-key": (b"Authorization: Bearer sck_\x00\r\n", 400),
    "non-utf8-content-type": (b"Content-Type: application/json\xff\r\n", 415),
    "non-utf8-encoding": (b"Content-Encoding: gz\xffip\r\n", 400),
    "two-encodings": (b"Content-Encoding: gzip, zstd\r\n", 400),
    "negative-length": (b"Content-Length: -2\r\n", 400),
    "huge-length": (b"Content-Length: 99999999999999999999999\r\n", 400),
    "length-and-chunked": (b"Transfer-Encoding: chunked\r\n", 400),
}


@pytest.mark.parametrize(("lines", "status"), HOSTILE_HEADERS.values(), ids=HOSTILE_HEADERS.keys())
async def test_hostile_header_values_get_a_4xx_and_the_server_keeps_serving(
    collector: RunningCollector,
    client: httpx.AsyncClient,
    org_key: str,
    lines: bytes,
    status: int,
) -> None:
    """Authorization, Content-Type, Content-Encoding and framing headers holding bytes that
    are not UTF-8, NULs, duplicates or impossible lengths get the 4xx they deserve (401 from
    the key check, 415 or 400 from the receiver, 400 from aiohttp's parser), never a 5xx."""
    head = f"POST {LOGS} HTTP/1.1\r\nHost: collector\r\n".encode() + lines
    if b"Authorization" not in lines:
        head += f"Authorization: Bearer {org_key}\r\n".encode()
    if b"Content-Type" not in lines:
        head += b"Content-Type: application/json\r\n"
    if b"Content-Length" not in lines:
        head += b"Content-Length: 2\r\n"
    status_line = await raw_request(collector, head + b"\r\n", b"{}")
    assert status_line.split()[1] == str(status).encode(), status_line
    assert collector.exporter().batches == []
    await assert_still_serves(collector, client, org_key)


# -- product bugs: these fail until the product is fixed -------------------------------------


def long_key_body(key_size: int, elements: int, hostile: bool) -> bytes:
    """One attribute holding an arrayValue of ``elements`` empty AnyValues. Hostile: its key
    is ``key_size`` bytes long. Benign: the key is short and the same bytes go into a
    separate string attribute, so both bodies are the same size and hold the same values."""
    values = ",".join(["{}"] * elements)
    filler = "k" * key_size
    key, other = (filler, "") if hostile else ("k", filler)
    return wrap_json_record(
        f'{{"attributes":[{{"key":"{key}","value":{{"arrayValue":{{"values":[{values}]}}}}}},'
        f'{{"key":"pad","value":{{"stringValue":"{other}"}}}}]}}'
    )


async def timed_post(
    client: httpx.AsyncClient, running: RunningCollector, key: str, body: bytes, **kw: Any
) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    resp = await post(client, running, key, body, **kw)
    return resp, time.perf_counter() - start


async def test_json_decoding_time_does_not_grow_with_attribute_key_length_times_value_count(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    """A 3 MiB JSON export whose one long attribute key sits above 30,000 nested values is
    decoded about as fast as the same export with a short key.

    PRODUCT BUG (fails today): collector/pdata/otlp_json.py builds an error-path string for every
    value it decodes, eagerly (``_kvlist``: ``f"{what}[{key}]"``; ``_value``'s arrayValue
    branch: ``f"{what}[{i}]"``), so each of the N values under a key of K bytes copies K
    bytes: O(N*K). Decoding runs on the event loop, so one such 3 MiB request stalls the whole
    collector for seconds here; a 20 MiB one (10 MiB key, 3.5 million ``{}``) for ~20 minutes.
    """
    client.timeout = httpx.Timeout(120)  # bounded: about 4 s on 2 slow cores today
    benign, benign_s = await timed_post(
        client, collector, org_key, long_key_body(3 * MiB, 30_000, hostile=False)
    )
    assert benign.status_code == 200, benign.content[:300]
    hostile, hostile_s = await timed_post(
        client, collector, org_key, long_key_body(3 * MiB, 30_000, hostile=True)
    )
    assert hostile.status_code == 200, hostile.content[:300]
    assert hostile_s < max(10 * benign_s, 1.0), (
        f"long key: {hostile_s:.2f} s, short key: {benign_s:.2f} s for the same bytes"
    )


async def test_gzip_body_of_many_members_is_inflated_in_linear_time(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    """A 1.6 MiB gzip body made of 80,000 empty members then ``{}`` is inflated about as fast
    as a single-member gzip body that inflates to 2 MiB.

    PRODUCT BUG (fails today): receivers/otlp_http.py ``_inflate`` restarts on
    ``d.unused_data`` after each gzip member, and zlib copies the whole rest of the input into
    ``unused_data`` every time: O(members * size). A 20 MiB body of 20-byte empty members
    (a million of them) keeps a worker thread busy for about 6 minutes, outside read_timeout,
    and a few such requests exhaust the default executor.
    """
    client.timeout = httpx.Timeout(120)  # bounded: about 4 s on 2 slow cores today
    padding = random.Random(7).randbytes(3 * MiB // 2).hex()[: 2 * MiB]
    single = zlib.compress(
        ('{"resourceLogs":[],"padding":"' + padding + '"}').encode(), wbits=16 + zlib.MAX_WBITS
    )
    benign, benign_s = await timed_post(client, collector, org_key, single, encoding="gzip")
    assert benign.status_code == 200, benign.content[:300]
    empty_member = zlib.compress(b"", wbits=16 + zlib.MAX_WBITS)
    members = empty_member * 80_000 + zlib.compress(b"{}", wbits=16 + zlib.MAX_WBITS)
    hostile, hostile_s = await timed_post(client, collector, org_key, members, encoding="gzip")
    assert hostile.status_code == 200, hostile.content[:300]
    assert hostile_s < max(10 * benign_s, 1.0), (
        f"80,000 members: {hostile_s:.2f} s, one member: {benign_s:.2f} s"
    )


def empty_records_proto(count: int) -> bytes:
    """An export of ``count`` empty log records: two bytes each on the wire."""
    empty_record = _tag(_num(ScopeLogs, "log_records")) + _varint(0)
    resource_logs = _field(_num(ResourceLogs, "scope_logs"), empty_record * count)
    return _field(_num(ExportLogsServiceRequest, "resource_logs"), resource_logs)


async def test_event_loop_keeps_turning_while_half_a_million_empty_records_are_handled(
    collector: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    """While a 1 MiB protobuf export of 500,000 empty log records is handled, the
    collector's event loop never stalls for a second (other clients would still be served).

    PRODUCT BUG (fails today): receivers/otlp_http.py decodes on the event loop
    (``records = _DECODERS[media](body)``), and a record costs 2 bytes on the wire but a few
    microseconds and ~300 bytes once decoded. This 1 MiB body stalls every connection for
    3-4 s here; a 20 MiB one (10.5 million records) for about 90 s and takes 3.6 GiB of
    RSS, so a few in parallel (max_concurrent_requests is 1024) can also kill the process.
    """
    client.timeout = httpx.Timeout(120)  # bounded: about 4 s on 2 slow cores today
    loop = asyncio.get_running_loop()
    stalls: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            stalls.append(now - last)
            last = now

    beating = asyncio.create_task(heartbeat())
    try:
        resp = await post(client, collector, org_key, empty_records_proto(500_000), PROTO)
    finally:
        done.set()
        await beating
    assert resp.status_code in ALLOWED, resp.content[:300]
    assert max(stalls) < 1.0, f"the event loop stalled for {max(stalls):.2f} s"


# -- 4. after all of that, a normal export still succeeds ------------------------------------


async def test_after_every_kind_of_hostile_request_a_normal_export_still_succeeds(
    slow_collector: RunningCollector, client: httpx.AsyncClient, org_key: str
) -> None:
    """One collector takes every kind of hostile request above in a row (garbage, deep
    nesting, invalid UTF-8, wrong types, 100k attributes, a 15 MiB string, oversized bodies,
    bombs, a stalled body, header abuse) and then still accepts the sample with 200 and its
    six records."""
    running, rng = slow_collector, random.Random(0xB0D1E5)
    requests: list[tuple[bytes, str, str | None]] = []  # body, media type, Content-Encoding
    for _ in range(20):
        media = rng.choice((JSON, PROTO))
        requests.append((random_body(rng, media), media, None))
    for kind in ("array", "kvlist"):
        requests.append((nested_json(10_000, kind), JSON, None))
        requests.append((nested_proto(10_000, kind), PROTO, None))
    requests.append((invalid_utf8_proto("body"), PROTO, None))
    bad_utf8 = wrap_json_record('{"body":{"stringValue":"X"}}').replace(b"X", b"\xff")
    requests.append((bad_utf8, JSON, None))
    for field, values in WRONG_TYPES.items():
        requests.append((wrap_json_record(to_json({field: values[0]}).decode()), JSON, None))
    for media in (JSON, PROTO):
        requests.append((many_attributes(media, 100_000), media, None))
        requests.append((huge_string_body(media, 15 * MiB), media, None))
    requests.append((b" " * (LIMIT + 1), JSON, None))
    requests.append((gzip_bomb(), PROTO, "gzip"))
    requests.append((zstd_bomb(), JSON, "zstd"))
    answers = []
    for body, media, encoding in requests:
        resp = await post(client, running, org_key, body, media, encoding)
        answers.append(resp.status_code)
    assert all(status in ALLOWED for status in answers), answers

    stalled = await raw_request(running, request_head(org_key, length=1000), b"{")
    assert stalled.startswith(b"HTTP/1.1 408"), stalled
    for extra in HEADER_ABUSE.values():
        status_line = await raw_request(running, request_head(org_key, extra), b"{}")
        assert status_line.split()[1] in (b"400", b"431"), status_line

    await assert_still_serves(running, client, org_key)
