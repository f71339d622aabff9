"""Two views of the OTLP logs wire format that let the protobuf codec skip Python work.

Protobuf lets one byte string be read through any schema whose fields have the same numbers
and wire types. Besides the standard ``opentelemetry.proto`` messages, the codec reads
OTLP logs through two views of its own, built here at import time:

- **raw**: ``ExportLogsServiceRequest`` down to ``ScopeLogs``, where ``Resource``,
  ``InstrumentationScope`` and each ``LogRecord`` are left as ``bytes``. Parsing it costs
  a fraction of a microsecond per record and gives every record's exact encoding, so an
  unchanged record is re-encoded by copying those bytes, byte for byte as it came.
- **lite**: ``ExportLogsServiceRequest`` down to each ``LogRecord``, whose standard fields
  are kept, with ``attributes`` (``repeated KeyValue``,
  field 6) read as ``map<string, AnyValue>``. A map entry is encoded exactly like a
  ``KeyValue`` (key 1, value 2), so this is the same record, with a C hash lookup for one
  attribute instead of a Python loop over all of them. Parsing it validates the record as
  fully as the standard message does (UTF-8, nesting, wire types). A map keeps the last of
  duplicate keys and forgets their order; the codec therefore reads the ordered attributes
  of a record from the standard message when all of them are asked for.

A request is parsed twice, once through each view, both times in C: the two parses see the
same structure, so the n-th record of one is the n-th record of the other.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.common.v1 import common_pb2

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "session_collector.otlp_wire"
_ANY_VALUE = "." + common_pb2.AnyValue.DESCRIPTOR.full_name


def _field(
    message: Any, name: str, number: int, kind: int, *, repeated: bool = False, of: str = ""
) -> None:
    f = message.field.add(name=name, number=number, type=kind)
    f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if of:
        f.type_name = of


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="session_collector/otlp_wire.proto", package=_PACKAGE, syntax="proto3"
    )
    fd.dependency.append(common_pb2.DESCRIPTOR.name)

    scope_logs = fd.message_type.add(name="RawScopeLogs")
    _field(scope_logs, "scope", 1, _F.TYPE_BYTES)
    _field(scope_logs, "log_records", 2, _F.TYPE_BYTES, repeated=True)
    _field(scope_logs, "schema_url", 3, _F.TYPE_STRING)

    resource_logs = fd.message_type.add(name="RawResourceLogs")
    _field(resource_logs, "resource", 1, _F.TYPE_BYTES)
    _field(resource_logs, "scope_logs", 2, _F.TYPE_MESSAGE, repeated=True,
           of=f".{_PACKAGE}.RawScopeLogs")  # fmt: skip
    _field(resource_logs, "schema_url", 3, _F.TYPE_STRING)

    request = fd.message_type.add(name="RawRequest")
    _field(request, "resource_logs", 1, _F.TYPE_MESSAGE, repeated=True,
           of=f".{_PACKAGE}.RawResourceLogs")  # fmt: skip

    lite_scope_logs = fd.message_type.add(name="LiteScopeLogs")
    _field(lite_scope_logs, "log_records", 2, _F.TYPE_MESSAGE, repeated=True,
           of=f".{_PACKAGE}.LiteLogRecord")  # fmt: skip
    lite_resource_logs = fd.message_type.add(name="LiteResourceLogs")
    _field(lite_resource_logs, "scope_logs", 2, _F.TYPE_MESSAGE, repeated=True,
           of=f".{_PACKAGE}.LiteScopeLogs")  # fmt: skip
    lite_request = fd.message_type.add(name="LiteRequest")
    _field(lite_request, "resource_logs", 1, _F.TYPE_MESSAGE, repeated=True,
           of=f".{_PACKAGE}.LiteResourceLogs")  # fmt: skip

    record = fd.message_type.add(name="LiteLogRecord")
    entry = record.nested_type.add(name="AttributesEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, _F.TYPE_MESSAGE, of=_ANY_VALUE)
    _field(record, "time_unix_nano", 1, _F.TYPE_FIXED64)
    _field(record, "severity_number", 2, _F.TYPE_INT32)  # an open enum on the wire
    _field(record, "severity_text", 3, _F.TYPE_STRING)
    _field(record, "body", 5, _F.TYPE_MESSAGE, of=_ANY_VALUE)
    _field(record, "attributes", 6, _F.TYPE_MESSAGE, repeated=True,
           of=f".{_PACKAGE}.LiteLogRecord.AttributesEntry")  # fmt: skip
    _field(record, "dropped_attributes_count", 7, _F.TYPE_UINT32)
    _field(record, "flags", 8, _F.TYPE_FIXED32)
    _field(record, "trace_id", 9, _F.TYPE_BYTES)
    _field(record, "span_id", 10, _F.TYPE_BYTES)
    _field(record, "observed_time_unix_nano", 11, _F.TYPE_FIXED64)
    _field(record, "event_name", 12, _F.TYPE_STRING)
    return fd


def _classes() -> dict[str, Any]:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("session_collector/otlp_wire.proto")
    except KeyError:
        pool.Add(_file())
    names = ("RawRequest", "LiteRequest", "LiteLogRecord")
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in names
    }


_CLASSES = _classes()
#: ``ExportLogsServiceRequest`` with resources, scopes and records as ``bytes``
RawRequest: Any = _CLASSES["RawRequest"]
#: ``ExportLogsServiceRequest`` down to its records, each a :data:`LiteLogRecord`;
#: resources and scopes are left out (read them through :data:`RawRequest`)
LiteRequest: Any = _CLASSES["LiteRequest"]
#: ``LogRecord`` with ``attributes`` as ``map<string, AnyValue>``
LiteLogRecord: Any = _CLASSES["LiteLogRecord"]
