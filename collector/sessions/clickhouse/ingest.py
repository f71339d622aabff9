"""The fast insert path: ClickHouse parses OTLP itself and derives every column in C++.

A batch goes to ClickHouse as one serialized ``ExportLogsServiceRequest`` (the records'
protobuf bytes as they came, copied, not rebuilt) followed by one more field, the tenant
(field 15, which OTLP does not use); one insert may hold several such messages. ClickHouse
reads them with its ``Protobuf`` input format and the schema :data:`SCHEMA` into
``otel_logs_ingest``, a ``Null`` table: nothing is kept there. Its materialized view
``otel_logs_ingest_mv`` flattens resources, scopes and records (``ARRAY JOIN``) into the
``Null`` table ``otel_logs_derived``, whose view ``otel_logs_derived_mv`` writes
``otel_logs``; together (:mod:`collector.sessions.clickhouse.derive`) they compute every column of
``otel_logs`` as :mod:`collector.sessions.clickhouse.rows` does in Python, by its rules:

- attribute maps hold strings: strings as they are, booleans ``true``/``false``, numbers in
  ClickHouse's text form, bytes as base64, arrays and maps as JSON (arrays and maps nested
  deeper than one level inside them are kept as the base64 of their OTLP protobuf encoding);
- the session fields are parsed leniently from the attributes (``"19"`` and ``19``); of a
  key sent twice in one record the first counts (Python keeps the last);
- a value its column cannot hold is stored empty, and the row's ``ValuesOutOfRange`` names
  the columns that were emptied;
- ``ContentHash`` (the identity of records the sender does not number) is a hash of the
  whole parsed record, its resource and its scope, types of values included.

(Embedded chDB reads the same schema from a file in the store, :data:`SCHEMA_FILE`.)

Python does no work per record on this path, apart from copying its bytes. It needs a
ClickHouse that has ``format_schema_source`` (25.x and later, and chDB); the exporter falls
back to building columns in Python (:mod:`collector.sessions.clickhouse.rows`) otherwise.
"""

from __future__ import annotations

from pathlib import Path

from collector.pdata import otlp_proto
from collector.pdata.records import LogBatch

TABLE = "otel_logs_ingest"
#: the views, and the Null table between them
VIEW = "otel_logs_ingest_mv"
STAGE = "otel_logs_derived"
#: length-delimited ``Batch`` messages: several batches (of any tenants) in one insert
FORMAT = "Protobuf"
MESSAGE = "Batch"
#: OTLP's logs messages as far as ClickHouse needs them: the same field numbers, AnyValue's
#: arrays and maps unrolled two levels (ClickHouse has no recursive types), the deeper ones
#: as bytes; and the batch's tenant in field 15
SCHEMA = """syntax = "proto3";
message AnyValue2 {
  oneof kind { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
    double double_value = 4; bytes array_value = 5; bytes kvlist_value = 6;
    bytes bytes_value = 7; }
}
message KeyValue2 { string key = 1; AnyValue2 value = 2; }
message ArrayValue { repeated AnyValue2 values = 1; }
message KeyValueList { repeated KeyValue2 values = 1; }
message AnyValue {
  oneof kind { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
    double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6;
    bytes bytes_value = 7; }
}
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message InstrumentationScope { string name = 1; string version = 2;
  repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message LogRecord {
  fixed64 time_unix_nano = 1; fixed64 observed_time_unix_nano = 11;
  int32 severity_number = 2; string severity_text = 3; AnyValue body = 5;
  repeated KeyValue attributes = 6; uint32 dropped_attributes_count = 7; fixed32 flags = 8;
  bytes trace_id = 9; bytes span_id = 10; string event_name = 12;
}
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2;
  string schema_url = 3; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2;
  string schema_url = 3; }
message Batch { repeated ResourceLogs resource_logs = 1; string tenant = 15; }
"""
#: the schema file an embedded store keeps in its ``format_schemas`` folder
SCHEMA_FILE = "session_collector_otlp_logs_v1.proto"
_ONEOF = {"input_format_protobuf_oneof_presence": 1}


def insert_settings(schema_file: Path | None) -> dict[str, object]:
    """The settings of an insert into :data:`TABLE`: a ClickHouse server gets the schema
    with the insert; embedded chDB reads the store's schema file (given a schema, it would
    write it to a ``__cache__`` folder in the process's working folder)."""
    if schema_file is not None:
        return {"format_schema": f"{schema_file}:{MESSAGE}", **_ONEOF}
    return {
        "format_schema_source": "string",
        "format_schema": SCHEMA,
        "format_schema_message_name": MESSAGE,
        **_ONEOF,
    }


_KIND = (
    "Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, "
    "'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7)"
)
_SCALARS = "string_value String, bool_value Bool, int_value Int64, double_value Float64"
_ANY2 = (
    f"Tuple({_SCALARS}, array_value String, kvlist_value String, bytes_value String, kind {_KIND})"
)
_ANY = (
    f"Tuple({_SCALARS}, array_value Tuple(values Array({_ANY2})), "
    f"kvlist_value Tuple(values Array(Tuple(key String, value {_ANY2}))), "
    f"bytes_value String, kind {_KIND})"
)
KVS = f"Array(Tuple(key String, value {_ANY}))"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    tenant String,
    resource_logs Array(Tuple(
        resource Tuple(attributes {KVS}, dropped_attributes_count UInt32),
        scope_logs Array(Tuple(
            scope Tuple(name String, version String, attributes {KVS},
                        dropped_attributes_count UInt32),
            log_records Array(Tuple(
                time_unix_nano UInt64, observed_time_unix_nano UInt64, severity_number Int32,
                severity_text String, body {_ANY}, attributes {KVS},
                dropped_attributes_count UInt32, flags UInt32, trace_id String,
                span_id String, event_name String)),
            schema_url String)),
        schema_url String))
) ENGINE = Null
"""


def payload(batches: list[LogBatch]) -> bytes:
    """The batches as :data:`FORMAT` data: each one ``Batch`` message (its OTLP request, then
    its tenant), preceded by its length."""
    return b"".join(frame(b.tenant, otlp_proto.encode_request(b)) for b in batches)


def frame(tenant: str, request: bytes) -> bytes:
    """One ``Batch`` of :data:`FORMAT` data: an encoded ``ExportLogsServiceRequest`` (as the
    disk queue keeps it), its tenant, and its length first."""
    name = tenant.encode()
    message = request + b"\x7a" + _varint(len(name)) + name
    return _varint(len(message)) + message


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
