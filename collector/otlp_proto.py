"""OTLP protobuf <-> :mod:`collector.records`, through the opentelemetry-proto messages."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError as _ProtoDecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue as PbAnyValue
from opentelemetry.proto.common.v1.common_pb2 import KeyValue as PbKeyValue

from collector.errors import DecodeError
from collector.records import AnyValue, Attributes, LogBatch, LogRecord, Resource, Scope

MAX_DEPTH = 64


def decode_request(data: bytes) -> list[LogRecord]:
    """Decode an ``ExportLogsServiceRequest`` into records; :class:`DecodeError` if invalid."""
    try:
        request = ExportLogsServiceRequest.FromString(data)
    except _ProtoDecodeError as exc:
        raise DecodeError(f"invalid protobuf ExportLogsServiceRequest: {exc}") from None
    except RecursionError:
        raise DecodeError("invalid protobuf: nested too deeply") from None
    return records_from_message(request)


def records_from_message(request: ExportLogsServiceRequest) -> list[LogRecord]:
    records: list[LogRecord] = []
    append = records.append
    for rl in request.resource_logs:
        pb_res = rl.resource
        resource = Resource(
            _attributes(pb_res.attributes), pb_res.dropped_attributes_count, rl.schema_url,
            pb_res,
        )  # fmt: skip
        for sl in rl.scope_logs:
            pb_scope = sl.scope
            scope = Scope(
                pb_scope.name,
                pb_scope.version,
                _attributes(pb_scope.attributes),
                pb_scope.dropped_attributes_count,
                sl.schema_url,
                pb_scope,
            )
            for lr in sl.log_records:
                append(
                    LogRecord(
                        lr.time_unix_nano,
                        lr.observed_time_unix_nano,
                        lr.severity_number,
                        lr.severity_text,
                        _value(lr.body, 0) if lr.HasField("body") else None,
                        _attributes(lr.attributes),
                        lr.dropped_attributes_count,
                        lr.flags,
                        lr.trace_id,
                        lr.span_id,
                        lr.event_name,
                        resource,
                        scope,
                        None,
                        lr,
                    )
                )
    return records


_SCALAR_KINDS = frozenset({"string_value", "int_value", "double_value", "bool_value",
                           "bytes_value"})  # fmt: skip


def _attributes(kvs: object, depth: int = 0) -> Attributes:
    # The hot loop of decoding: scalars (nearly every attribute) are read inline, which
    # measured about 18% faster per record than a call to _value for each.
    out: Attributes = {}
    for kv in kvs:  # type: ignore[attr-defined]
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = getattr(v, kind) if kind in _SCALAR_KINDS else _value(v, depth)
    return out


def _value(v: PbAnyValue, depth: int) -> AnyValue:
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        return v.double_value
    if kind == "bool_value":
        return v.bool_value
    if kind is None:
        return None
    if depth >= MAX_DEPTH:
        raise DecodeError(f"AnyValue nested deeper than {MAX_DEPTH} levels")
    if kind == "array_value":
        return [_value(x, depth + 1) for x in v.array_value.values]
    if kind == "kvlist_value":
        return _attributes(v.kvlist_value.values, depth + 1)
    if kind == "bytes_value":
        return v.bytes_value
    return None  # a kind this collector does not know (e.g. string_value_strindex)


def encode_request(batch: LogBatch) -> bytes:
    """Encode a batch as a serialized ``ExportLogsServiceRequest``."""
    return message_from_batch(batch).SerializeToString()


def message_from_batch(batch: LogBatch) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    for resource, scopes in batch.grouped():
        rl = request.resource_logs.add()
        if resource.source is not None:
            rl.resource.CopyFrom(resource.source)
        else:
            _fill_attributes(rl.resource.attributes, resource.attributes)
            rl.resource.dropped_attributes_count = resource.dropped_attributes_count
        rl.schema_url = resource.schema_url
        for scope, records in scopes:
            sl = rl.scope_logs.add()
            if scope.source is not None:
                sl.scope.CopyFrom(scope.source)
            else:
                sl.scope.name = scope.name
                sl.scope.version = scope.version
                _fill_attributes(sl.scope.attributes, scope.attributes)
                sl.scope.dropped_attributes_count = scope.dropped_attributes_count
            sl.schema_url = scope.schema_url
            out = sl.log_records
            unchanged = [r.source for r in records if r.source is not None]
            if len(unchanged) == len(records):
                out.extend(unchanged)  # one copy in C for the whole run
                continue
            for r in records:
                if r.source is not None:
                    out.append(r.source)
                else:
                    _fill_record(out.add(), r)
    return request


def _fill_record(lr: Any, r: LogRecord) -> None:
    lr.time_unix_nano = r.time_unix_nano
    lr.observed_time_unix_nano = r.observed_time_unix_nano
    lr.severity_number = r.severity_number
    lr.severity_text = r.severity_text
    if r.body is not None:
        _fill_value(lr.body, r.body)
    _fill_attributes(lr.attributes, r.attributes)
    lr.dropped_attributes_count = r.dropped_attributes_count
    lr.flags = r.flags
    lr.trace_id = r.trace_id
    lr.span_id = r.span_id
    lr.event_name = r.event_name


def _fill_attributes(target: object, attributes: Attributes) -> None:
    add = target.add  # type: ignore[attr-defined]
    for key, value in attributes.items():
        kv: PbKeyValue = add()
        kv.key = key
        if value is not None:
            _fill_value(kv.value, value)


def _fill_value(target: PbAnyValue, value: AnyValue) -> None:
    if isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, list):
        values = target.array_value.values
        target.array_value.SetInParent()
        for item in value:
            _fill_value(values.add(), item)
    elif isinstance(value, dict):
        target.kvlist_value.SetInParent()
        _fill_attributes(target.kvlist_value.values, value)
