"""OTLP/JSON <-> :mod:`collector.pdata.records`, following the OTLP JSON mapping.

Decoding accepts what the protobuf JSON mapping allows and senders actually send: 64-bit
integers as strings or numbers, enums as integers (or their names), hex ``traceId`` and
``spanId``, base64 ``bytesValue``, unknown fields ignored. Encoding writes the canonical
form: int64 as strings, default values left out.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import orjson
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber

from collector.consumererror import DecodeError, TooMuchInRequest
from collector.pdata.records import (
    BODY_DEPTH,
    LOG_ATTRIBUTE_DEPTH,
    MAX_MESSAGE_DEPTH,
    RESOURCE_ATTRIBUTE_DEPTH,
    SCOPE_ATTRIBUTE_DEPTH,
    AnyValue,
    Attributes,
    LogBatch,
    LogRecord,
    RequestLimits,
    Resource,
    Scope,
)

_U64 = (1 << 64) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_U32 = (1 << 32) - 1
_SEVERITY_NAMES = {name: number for name, number in SeverityNumber.items()}


def decode_request(data: bytes, limits: RequestLimits | None = None) -> list[LogRecord]:
    """Decode an OTLP/JSON ``ExportLogsServiceRequest``; :class:`DecodeError` if invalid,
    :class:`TooMuchInRequest` when it holds more than ``limits`` allow (counted before the
    records are built)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DecodeError("the body must be a JSON object (an ExportLogsServiceRequest)")
    records: list[LogRecord] = []
    if limits is not None:
        _count(doc, limits)
        if limits.counted_exactly(len(data)):
            _count_values(doc, limits.attributes)
    for i, rl in enumerate(_list(doc, "resourceLogs")):
        try:
            _resource_logs(rl, records)
        except DecodeError as exc:
            raise DecodeError(f"resourceLogs[{i}].{exc.message}") from None
    return records


def _count(doc: dict[str, Any], limits: RequestLimits) -> None:
    """Refuse a request of more entries or attributes than ``limits``; malformed parts are
    left to the decoder, which says where they are."""
    entries = attributes = 0

    def attrs(obj: Any) -> int:
        found = obj.get("attributes") if isinstance(obj, dict) else None
        return len(found) if isinstance(found, list) else 0

    resource_logs = doc.get("resourceLogs")
    for rl in resource_logs if isinstance(resource_logs, list) else ():
        entries += 1
        if not isinstance(rl, dict):
            continue
        attributes += attrs(rl.get("resource"))
        scope_logs = rl.get("scopeLogs")
        for sl in scope_logs if isinstance(scope_logs, list) else ():
            if not isinstance(sl, dict):
                entries += 1
                continue
            attributes += attrs(sl.get("scope"))
            log_records = sl.get("logRecords")
            log_records = log_records if isinstance(log_records, list) else []
            entries += 1 + len(log_records)
            if entries > limits.records:
                break
            attributes += sum(attrs(lr) for lr in log_records)
        if entries > limits.records or attributes > limits.attributes:
            break
    if entries > limits.records:
        raise TooMuchInRequest(
            f"the request holds more than {limits.records} records, scopes and resources",
            "max_records_per_request",
        )
    if attributes > limits.attributes:
        raise _over(limits.attributes)


def _count_values(doc: dict[str, Any], limit: int) -> None:
    """Refuse a request whose attributes and the values nested in attribute values and
    bodies are more than ``limit``, counting until it is over (a large request only:
    ``RequestLimits.counted_exactly``); malformed parts are left to the decoder."""
    left = limit

    def kvs(values: Any) -> None:
        nonlocal left
        if not isinstance(values, list):
            return
        left -= len(values)
        if left < 0:
            raise _over(limit)
        for kv in values:
            if isinstance(kv, dict):
                nested(kv.get("value"))

    def nested(value: Any) -> None:
        nonlocal left
        if not isinstance(value, dict):
            return
        array = value.get("arrayValue")
        if isinstance(array, dict):
            items = array.get("values")
            if isinstance(items, list):
                left -= len(items)
                if left < 0:
                    raise _over(limit)
                for item in items:
                    nested(item)
        kvlist = value.get("kvlistValue")
        if isinstance(kvlist, dict):
            kvs(kvlist.get("values"))

    def attributes(obj: Any) -> None:
        if isinstance(obj, dict):
            kvs(obj.get("attributes"))

    for rl in _loose_list(doc.get("resourceLogs")):
        if not isinstance(rl, dict):
            continue
        attributes(rl.get("resource"))
        for sl in _loose_list(rl.get("scopeLogs")):
            if not isinstance(sl, dict):
                continue
            attributes(sl.get("scope"))
            for lr in _loose_list(sl.get("logRecords")):
                attributes(lr)
                if isinstance(lr, dict):
                    nested(lr.get("body"))


def _loose_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _over(limit: int) -> TooMuchInRequest:
    return TooMuchInRequest(
        f"the request holds more than {limit} attributes and nested values",
        "max_attributes_per_request",
    )


def _resource_logs(rl: Any, out: list[LogRecord]) -> None:
    _object(rl, "resourceLogs")
    res = rl.get("resource")
    if res is None:
        resource = Resource(schema_url=_str(rl, "schemaUrl"))
    else:
        _object(res, "resource")
        resource = Resource(
            _attrs(res, "resource.attributes", RESOURCE_ATTRIBUTE_DEPTH),
            _uint(res, "droppedAttributesCount", _U32),
            _str(rl, "schemaUrl"),
        )
    for j, sl in enumerate(_list(rl, "scopeLogs")):
        try:
            _scope_logs(sl, resource, out)
        except DecodeError as exc:
            raise DecodeError(f"scopeLogs[{j}].{exc.message}") from None


def _scope_logs(sl: Any, resource: Resource, out: list[LogRecord]) -> None:
    _object(sl, "scopeLogs")
    sc = sl.get("scope")
    if sc is None:
        scope = Scope(schema_url=_str(sl, "schemaUrl"))
    else:
        _object(sc, "scope")
        scope = Scope(
            _str(sc, "name"),
            _str(sc, "version"),
            _attrs(sc, "scope.attributes", SCOPE_ATTRIBUTE_DEPTH),
            _uint(sc, "droppedAttributesCount", _U32),
            _str(sl, "schemaUrl"),
        )
    append = out.append
    for k, lr in enumerate(_list(sl, "logRecords")):
        try:
            append(_record(lr, resource, scope))
        except DecodeError as exc:
            raise DecodeError(f"logRecords[{k}].{exc.message}") from None


def _record(lr: Any, resource: Resource, scope: Scope) -> LogRecord:
    _object(lr, "logRecord")
    body = lr.get("body")
    return LogRecord(
        _uint(lr, "timeUnixNano", _U64),
        _uint(lr, "observedTimeUnixNano", _U64),
        _severity(lr.get("severityNumber")),
        _str(lr, "severityText"),
        None if body is None else _body(body),
        _attrs(lr, "attributes", LOG_ATTRIBUTE_DEPTH),
        _uint(lr, "droppedAttributesCount", _U32),
        _uint(lr, "flags", _U32),
        _hex_id(lr, "traceId", 16),
        _hex_id(lr, "spanId", 8),
        _str(lr, "eventName"),
        resource,
        scope,
    )


def _body(body: Any) -> AnyValue:
    try:
        return _value(body, BODY_DEPTH)
    except DecodeError as exc:
        raise DecodeError(f"body{exc.message}") from None


def _object(value: Any, what: str) -> None:
    if not isinstance(value, dict):
        raise DecodeError(f"{what}: expected an object, got {_kind(value)}")


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{key}: expected an array, got {_kind(value)}")
    return value


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{key}: expected a string, got {_kind(value)}")
    return value


def _int(value: Any, key: str, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise DecodeError(f"{key}: expected an integer, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value, 10)
        except ValueError:
            raise DecodeError(f"{key}: expected an integer, got {value[:40]!r}") from None
    elif isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        number = int(value)  # larger floats (orjson's reading of huge integers) are inexact
    else:
        raise DecodeError(f"{key}: expected an integer, got {_kind(value)}")
    if not lo <= number <= hi:
        raise DecodeError(f"{key}: {number} is out of range")
    return number


def _uint(obj: dict[str, Any], key: str, hi: int) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    return _int(value, key, 0, hi)


def _severity(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value in _SEVERITY_NAMES:
        return _SEVERITY_NAMES[value]
    return _int(value, "severityNumber", -(1 << 31), (1 << 31) - 1)


def _hex_id(obj: dict[str, Any], key: str, size: int) -> bytes:
    value = obj.get(key)
    if value is None or value == "":
        return b""
    if not isinstance(value, str):
        raise DecodeError(f"{key}: expected a hex string, got {_kind(value)}")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise DecodeError(f"{key}: {value[:40]!r} is not hex") from None
    if len(raw) != size:
        raise DecodeError(f"{key}: expected {size} bytes ({size * 2} hex digits)")
    return raw


def _attrs(obj: dict[str, Any], what: str, depth: int) -> Attributes:
    """Attributes whose values are AnyValue messages ``depth`` deep (see ``records``)."""
    key = what.rpartition(".")[2]
    items = obj.get(key)
    if items is None:
        return {}
    if not isinstance(items, list):
        raise DecodeError(f"{what}: expected an array, got {_kind(items)}")
    return _kvlist(items, what, depth)


def _kvlist(items: list[Any], what: str, depth: int) -> Attributes:
    out: Attributes = {}
    for i, kv in enumerate(items):
        if not isinstance(kv, dict):
            raise DecodeError(f"{what}[{i}]: expected an object, got {_kind(kv)}")
        key = kv.get("key", "")
        if not isinstance(key, str):
            raise DecodeError(f"{what}[{i}].key: expected a string, got {_kind(key)}")
        value = kv.get("value")
        if value is None:
            out[key] = None
            continue
        try:
            out[key] = _value(value, depth)
        except DecodeError as exc:  # the path is built only on the way out of an error
            raise DecodeError(f"{what}[{_short(key)}]{exc.message}") from None
    return out


def _within(depth: int) -> None:
    if depth > MAX_MESSAGE_DEPTH:
        raise DecodeError(
            f": AnyValue nested deeper than protobuf allows ({MAX_MESSAGE_DEPTH} messages: "
            "48 levels of arrays or 32 of key-value lists in a body)"
        )


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "..."


def _value(v: Any, depth: int) -> AnyValue:
    """Decode one AnyValue, a message ``depth`` deep, within ``MAX_MESSAGE_DEPTH`` as the
    protobuf decoder counts it; errors carry a path relative to it (``.stringValue: ...``)."""
    if not isinstance(v, dict):
        raise DecodeError(f": expected an AnyValue object, got {_kind(v)}")
    if "stringValue" in v:
        s = v["stringValue"]
        if not isinstance(s, str):
            raise DecodeError(f".stringValue: expected a string, got {_kind(s)}")
        return s
    if "intValue" in v:
        return _int(v["intValue"], ".intValue", _I64_MIN, _I64_MAX)
    if "boolValue" in v:
        b = v["boolValue"]
        if not isinstance(b, bool):
            raise DecodeError(f".boolValue: expected a boolean, got {_kind(b)}")
        return b
    if "doubleValue" in v:
        return _double(v["doubleValue"], ".doubleValue")
    if "arrayValue" in v:
        arr = v["arrayValue"]
        if not isinstance(arr, dict):
            raise DecodeError(f".arrayValue: expected an object, got {_kind(arr)}")
        try:
            values = _list(arr, "values")
        except DecodeError as exc:
            raise DecodeError(f".arrayValue.{exc.message}") from None
        _within(depth + (2 if values else 1))  # ArrayValue, then its AnyValues
        out: list[AnyValue] = []
        for i, x in enumerate(values):
            try:
                out.append(_value(x, depth + 2))
            except DecodeError as exc:
                raise DecodeError(f"[{i}]{exc.message}") from None
        return out
    if "kvlistValue" in v:
        kvl = v["kvlistValue"]
        if not isinstance(kvl, dict):
            raise DecodeError(f".kvlistValue: expected an object, got {_kind(kvl)}")
        try:
            items = _list(kvl, "values")
        except DecodeError as exc:
            raise DecodeError(f".kvlistValue.{exc.message}") from None
        _within(depth + (3 if items else 1))  # KeyValueList, KeyValue, AnyValue
        return _kvlist(items, "", depth + 3)
    if "bytesValue" in v:
        raw = v["bytesValue"]
        if not isinstance(raw, str):
            raise DecodeError(f".bytesValue: expected a base64 string, got {_kind(raw)}")
        try:
            padded = raw + "=" * (-len(raw) % 4)
            return base64.b64decode(padded, altchars=_altchars(raw), validate=True)
        except (binascii.Error, ValueError):
            raise DecodeError(".bytesValue: not valid base64") from None
    return None


def _altchars(raw: str) -> bytes | None:
    return b"-_" if ("-" in raw or "_" in raw) else None


def _double(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise DecodeError(f"{what}: expected a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise DecodeError(f"{what}: expected a number, got {_kind(value)}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# -- encoding -----------------------------------------------------------------------------


def encode_request(batch: LogBatch) -> bytes:
    """Encode a batch as one OTLP/JSON ``ExportLogsServiceRequest`` (no newline)."""
    return orjson.dumps(request_dict(batch))


def request_dict(batch: LogBatch) -> dict[str, Any]:
    resource_logs = []
    for resource, scopes in batch.grouped():
        scope_logs = []
        for scope, records in scopes:
            sl: dict[str, Any] = {
                "scope": _drop_empty(
                    {
                        "name": scope.name,
                        "version": scope.version,
                        "attributes": _enc_attrs(scope.attributes),
                        "droppedAttributesCount": scope.dropped_attributes_count,
                    }
                ),
                "logRecords": [_enc_record(r) for r in records],
            }
            if scope.schema_url:
                sl["schemaUrl"] = scope.schema_url
            scope_logs.append(sl)
        rl: dict[str, Any] = {
            "resource": _drop_empty(
                {
                    "attributes": _enc_attrs(resource.attributes),
                    "droppedAttributesCount": resource.dropped_attributes_count,
                }
            ),
            "scopeLogs": scope_logs,
        }
        if resource.schema_url:
            rl["schemaUrl"] = resource.schema_url
        resource_logs.append(rl)
    return {"resourceLogs": resource_logs}


def _enc_record(r: LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.time_unix_nano:
        out["timeUnixNano"] = str(r.time_unix_nano)
    if r.observed_time_unix_nano:
        out["observedTimeUnixNano"] = str(r.observed_time_unix_nano)
    if r.severity_number:
        out["severityNumber"] = r.severity_number
    if r.severity_text:
        out["severityText"] = r.severity_text
    if r.body is not None:
        out["body"] = _enc_value(r.body)
    if r.attributes:
        out["attributes"] = _enc_attrs(r.attributes)
    if r.dropped_attributes_count:
        out["droppedAttributesCount"] = r.dropped_attributes_count
    if r.flags:
        out["flags"] = r.flags
    if r.trace_id:
        out["traceId"] = r.trace_id.hex()
    if r.span_id:
        out["spanId"] = r.span_id.hex()
    if r.event_name:
        out["eventName"] = r.event_name
    return out


def _enc_attrs(attributes: Attributes) -> list[dict[str, Any]]:
    return [{"key": k, "value": _enc_value(v)} for k, v in attributes.items()]


def _enc_value(v: AnyValue) -> dict[str, Any]:
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        if math.isfinite(v):
            return {"doubleValue": v}
        return {"doubleValue": "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")}
    if isinstance(v, bytes):
        return {"bytesValue": base64.b64encode(v).decode("ascii")}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_enc_value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": _enc_attrs(v)}}
    return {}


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v}
