"""The fast insert path (ClickHouse parses the records' protobuf and derives every column)
stores the very rows the Python path builds, for realistic and for odd records, against
real ClickHouse (embedded chDB, or the server named by CLICKHOUSE_URL)."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.pdata import otlp_json, otlp_proto
from collector.pdata.records import LogBatch, LogRecord
from collector.sessions.clickhouse import ClickHouseSettings, Store, ingest, rows
from collector.sessions.clickhouse.client import schema_file
from collector.sessions.clickhouse.schema import has_ingest_view, migrate

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import loadgen


@pytest.fixture
def store(store_endpoint: dict[str, Any]) -> Iterator[Store]:
    s = Store(ClickHouseSettings.model_validate(store_endpoint))
    migrate(s)
    yield s
    s.close()


def settings(store: Store) -> dict[str, object]:
    embedded = store.settings.embedded
    return ingest.insert_settings(schema_file(store.settings.chdb_path) if embedded else None)


def rec(attrs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "timeUnixNano": "1795723410198000000",
        "body": {"stringValue": "claude_code.api_request"},
        "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
    }
    r.update(fields)
    return r


S = {"stringValue": "s"}
#: records whose values test every rule: out of range, loose types, every kind of value
ODD = [
    rec({"session.id": S, "cost_usd": {"doubleValue": 1e300}}),
    rec({"session.id": S, "input_tokens": {"stringValue": "18446744073709551616"},
         "event.sequence": {"intValue": "5"}}),
    rec({"session.id": S, "cost_usd_micros": {"stringValue": str(2**63)}}),
    rec({"session.id": S}, timeUnixNano=str(2**63), observedTimeUnixNano="1795723410198000001"),
    rec({"session.id": S}, timeUnixNano=str(2**63)),
    rec({"session.id": S, "event.timestamp": {"stringValue": "0001-01-01T00:00:00Z"}}),
    rec({"session.id": S, "event.timestamp": {"stringValue": "9999-12-31T23:59:59Z"}}),
    rec({"session.id": {"intValue": "42"}, "success": {"stringValue": " Yes "},
         "duration_ms": {"stringValue": "12.5"}, "status_code": {"stringValue": "undefined"},
         "prompt_length": {"doubleValue": -3.5}, "output_tokens": {"boolValue": True},
         "cache_read_tokens": {"doubleValue": 7.9}, "event.sequence": {"stringValue": " 8 "}}),
    rec({"b": {"bytesValue": "AAEC"},
         "arr": {"arrayValue": {"values": [{"stringValue": "x\"y"}, {"intValue": "3"},
                                           {"boolValue": True}]}},
         "kv": {"kvlistValue": {"values": [{"key": "a", "value": {"stringValue": "b"}},
                                           {"key": "n", "value": {"intValue": "1"}}]}}},
        body={"kvlistValue": {"values": [{"key": "msg", "value": {"stringValue": "hi"}}]}}),
    rec({"event.name": {"stringValue": "claude_code.custom"}}, body={"stringValue": "plain"},
        severityNumber=300, traceId="0102030405060708090a0b0c0d0e0f10",
        spanId="0102030405060708", flags=0x1FF),
    rec({"event.name": {"intValue": "3"}}, body={"intValue": "7"}),
    rec({"event.timestamp": {"stringValue": "2026-11-26T20:08:18"},
         "session.id": {"stringValue": "naive"}}),
    rec({"event.timestamp": {"stringValue": "2026-11-26T20:08:18.123456+02:00"},
         "session.id": {"stringValue": "tz"}, "user.email": {"stringValue": ""},
         "success": {"intValue": "0"}, "cost_usd": {"stringValue": "nan"}}),
    rec({"session.id": S, "cost_usd": {"doubleValue": 0.0000015}, "success": {"boolValue": False},
         "duration_ms": {"intValue": "34"}, "event.sequence": {"doubleValue": 4.0}}),
]  # fmt: skip
ODD_EXPORT = {
    "resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "cowork"}},
            {"key": "user.email", "value": {"stringValue": "r@example.com"}},
            {"key": "organization.id", "value": {"intValue": "7"}},
            {"key": "service.version", "value": {"stringValue": "1.2"}}]},
        "schemaUrl": "https://r",
        "scopeLogs": [{"scope": {"name": "sc", "version": "1", "attributes": [
            {"key": "q", "value": {"stringValue": "2"}}]},
            "schemaUrl": "https://s", "logRecords": ODD}],
    }]
}  # fmt: skip


def batches() -> list[list[LogRecord]]:
    """Five of the load generator's realistic exports (100 records each) and the odd ones,
    all as protobuf, as the store receives them."""
    bodies = loadgen.body_pool(1, 5, 100, "protobuf", False, 8, 1, 0.01)
    out = [otlp_proto.decode_request(b) for b in bodies]
    odd = otlp_json.decode_request(orjson.dumps(ODD_EXPORT))
    out.append(otlp_proto.decode_request(otlp_proto.encode_request(LogBatch("x", odd))))
    return out


def stored(store: Store, tenant: str) -> list[dict[str, Any]]:
    names = [c for c in rows.COLUMNS if c != "Tenant"]
    sql = (
        f"SELECT {', '.join(names)}, ContentHash = 0 AS numbered FROM otel_logs "
        "WHERE Tenant = {t:String} ORDER BY SessionId, Sequence, Timestamp, Body, "
        "toString(LogAttributes)"
    )
    return store.query(sql, {"t": tenant})


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def test_the_store_has_the_protobuf_insert_path(store: Store) -> None:
    """chDB (and a current server) takes the schema with the insert: the view exists."""
    assert has_ingest_view(store)


def test_protobuf_and_python_insert_paths_store_the_same_rows(store: Store) -> None:
    """Every column of every row is the same whichever path stored it, apart from how a
    float attribute is written (Python's ``1e+300``, ``1.5e-06``; ClickHouse's ``1e300``,
    ``0.0000015``), which is the same number."""
    for records in batches():
        store.insert("otel_logs", rows.columns("python", records), rows.COLUMNS)
        payload = ingest.payload([LogBatch("protobuf", records)])
        store.insert_raw(ingest.TABLE, payload, ingest.FORMAT, settings(store))
    python, protobuf = stored(store, "python"), stored(store, "protobuf")
    assert len(python) == len(protobuf) == 500 + len(ODD)
    differences = [
        (column, a[column], b[column])
        for a, b in zip(python, protobuf, strict=True)
        for column in a
        if not same(a[column], b[column])
    ]
    assert {column for column, _, _ in differences} == {"LogAttributes"}
    for _, a, b in differences:
        assert a.keys() == b.keys()
        for key in a:
            if a[key] != b[key]:
                assert float(a[key]) == float(b[key]), (key, a[key], b[key])
    assert len(differences) == 2  # the two odd records with such floats


def test_the_protobuf_path_names_the_columns_it_emptied(store: Store) -> None:
    """Out-of-range values are stored empty and the row says which columns were emptied."""
    odd = otlp_json.decode_request(orjson.dumps(ODD_EXPORT))
    store.insert_raw(ingest.TABLE, ingest.payload([LogBatch("t", odd)]), ingest.FORMAT,
                     settings(store))  # fmt: skip
    out = store.query(
        "SELECT arrayJoin(ValuesOutOfRange) AS c, count() AS n FROM otel_logs GROUP BY c ORDER BY c"
    )
    assert {r["c"]: r["n"] for r in out} == {
        "CostMicros": 2, "EventTime": 4, "InputTokens": 1, "PromptLength": 1,
        "SeverityNumber": 1, "Timestamp": 2,
    }  # fmt: skip
