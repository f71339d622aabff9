"""OTLP/JSON into the protobuf messages of any OTLP request (metrics and traces), quickly.

``google.protobuf.json_format`` reads any message but does it field by field in Python, with
reflection: hundreds of microseconds per span. Here each message type gets a plan once (its
fields by JSON name and by proto name, each with a converter), the JSON document is rewritten
into plain keyword arguments along the plan, and the protobuf constructor (upb, in C) builds
the whole request from them in one call, nested dicts and lists included.

The OTLP/JSON rules (OTLP specification, "JSON Protobuf Encoding"): keys in lowerCamelCase
(the proto names are accepted too); ``traceId``, ``spanId`` and ``parentSpanId`` in hex, other
``bytes`` in base64; 64-bit integers as numbers or decimal strings; enums as integers (names
are accepted too); doubles as numbers or ``"NaN"``, ``"Infinity"``, ``"-Infinity"``; unknown
fields ignored. A message may be nested at most ``MAX_MESSAGE_DEPTH`` deep, as in protobuf.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from collector.consumererror import DecodeError
from collector.pdata.records import MAX_MESSAGE_DEPTH

#: the ``bytes`` fields that OTLP/JSON writes in hex
HEX_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

#: converts one JSON value of a field (with the depth of the message holding it)
Convert = Callable[[Any, int], Any]
Plan = dict[str, tuple[str, Convert]]
_PLANS: dict[str, Plan] = {}


class _Invalid(Exception):
    """A value that does not fit its field; ``where`` names the field."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


def parse(cls: Any, doc: Any) -> Any:
    """The message ``cls`` that the OTLP/JSON document ``doc`` (parsed JSON) stands for;
    :class:`DecodeError` if it does not fit."""
    if not isinstance(doc, dict):
        raise DecodeError(f"invalid OTLP/JSON {cls.__name__}: not an object")
    try:
        return cls(**_message(_plan(cls.DESCRIPTOR), doc, 0))
    except _Invalid as exc:
        raise DecodeError(f"invalid OTLP/JSON {cls.__name__}: {exc}") from None
    except (TypeError, ValueError) as exc:  # what the constructor refuses: never seen
        raise DecodeError(f"invalid OTLP/JSON {cls.__name__}: {exc}") from None
    except RecursionError:
        raise DecodeError("invalid OTLP/JSON: nested too deeply") from None


def _message(plan: Plan, doc: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > MAX_MESSAGE_DEPTH:
        raise _Invalid("(message)", f"nested more than {MAX_MESSAGE_DEPTH} messages deep")
    out: dict[str, Any] = {}
    for key, value in doc.items():
        entry = plan.get(key)
        if entry is None or value is None:
            continue  # an unknown field, or JSON null (the field's default)
        name, convert = entry
        out[name] = convert(value, depth)
    return out


def _plan(descriptor: Descriptor) -> Plan:
    plan = _PLANS.get(descriptor.full_name)
    if plan is not None:
        return plan
    plan = _PLANS[descriptor.full_name] = {}  # before its fields: messages may recurse
    for field in descriptor.fields:
        convert = _converter(field)
        if field.is_repeated:
            convert = _repeated(field.json_name, convert)
        plan[field.json_name] = plan[field.name] = (field.name, convert)
    return plan


def _repeated(where: str, convert: Convert) -> Convert:
    def repeated(value: Any, depth: int) -> list[Any]:
        if not isinstance(value, list):
            raise _Invalid(where, "expected a list")
        return [convert(v, depth) for v in value]

    return repeated


def _converter(field: FieldDescriptor) -> Convert:
    where = field.json_name
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        sub = field.message_type

        def message(value: Any, depth: int) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise _Invalid(where, "expected an object")
            return _message(_plan(sub), value, depth + 1)

        return message
    if kind == FieldDescriptor.TYPE_STRING:

        def string(value: Any, depth: int) -> str:
            if not isinstance(value, str):
                raise _Invalid(where, "expected a string")
            return value

        return string
    if kind == FieldDescriptor.TYPE_BOOL:

        def boolean(value: Any, depth: int) -> bool:
            if not isinstance(value, bool):
                raise _Invalid(where, "expected true or false")
            return value

        return boolean
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):

        def double(value: Any, depth: int) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise _Invalid(where, "expected a number")
            if isinstance(value, str):
                special = _SPECIAL_DOUBLES.get(value)
                if special is not None:
                    return special
                try:
                    return float(value)
                except ValueError:
                    raise _Invalid(where, "expected a number") from None
            return float(value)

        return double
    if kind == FieldDescriptor.TYPE_ENUM:
        by_name = {v.name: v.number for v in field.enum_type.values}

        def enum(value: Any, depth: int) -> int:
            if isinstance(value, int) and not isinstance(value, bool):
                if not -(2**31) <= value < 2**31:
                    raise _Invalid(where, "out of range")
                return value
            if isinstance(value, str) and value in by_name:
                return by_name[value]
            raise _Invalid(where, "expected an enum number")

        return enum
    if kind == FieldDescriptor.TYPE_BYTES:
        hex_ids = field.name in HEX_FIELDS

        def data(value: Any, depth: int) -> bytes:
            if not isinstance(value, str):
                raise _Invalid(where, "expected a string")
            try:
                if hex_ids:
                    return bytes.fromhex(value)
                return base64.b64decode(value + "=" * (-len(value) % 4), altchars=_alt(value))
            except (ValueError, binascii.Error):
                raise _Invalid(where, "expected hex" if hex_ids else "expected base64") from None

        return data
    low, high = _INT_RANGES[kind]

    def integer(value: Any, depth: int) -> int:
        if isinstance(value, bool):
            raise _Invalid(where, "expected an integer")
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise _Invalid(where, "expected an integer") from None
        elif isinstance(value, float):
            if not value.is_integer():
                raise _Invalid(where, "expected an integer")
            value = int(value)
        elif not isinstance(value, int):
            raise _Invalid(where, "expected an integer")
        if not low <= value <= high:
            raise _Invalid(where, "out of range")
        return value

    return integer


def _alt(value: str) -> bytes | None:
    """base64url (``-``, ``_``) is accepted beside base64, as protobuf's JSON mapping does."""
    return b"-_" if "-" in value or "_" in value else None


# -- writing ---------------------------------------------------------------------------------

#: converts one field's value (a message, a list or a scalar) to its OTLP/JSON form
Write = Callable[[Any], Any]
_WRITERS: dict[str, dict[str, tuple[str, Write]]] = {}


def to_dict(message: Any) -> dict[str, Any]:
    """``message`` as an OTLP/JSON object: lowerCamelCase keys, 64-bit integers as strings,
    enums as integers, trace and span ids in hex, other bytes in base64, non-finite doubles
    as ``"NaN"``/``"Infinity"``/``"-Infinity"``; fields at their defaults left out (what
    ``ListFields`` gives: set fields only)."""
    writers = _writers(message.DESCRIPTOR)
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        name, write = writers[field.name]
        out[name] = write(value)
    return out


def _writers(descriptor: Descriptor) -> dict[str, tuple[str, Write]]:
    writers = _WRITERS.get(descriptor.full_name)
    if writers is None:
        writers = _WRITERS[descriptor.full_name] = {}
        for field in descriptor.fields:
            write = _writer(field)
            if field.is_repeated:
                write = _each(write)
            writers[field.name] = (field.json_name, write)
    return writers


def _each(write: Write) -> Write:
    def each(values: Any) -> list[Any]:
        return [write(v) for v in values]

    return each


def _writer(field: FieldDescriptor) -> Write:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return to_dict
    if kind == FieldDescriptor.TYPE_BYTES:
        if field.name in HEX_FIELDS:
            return bytes.hex
        return lambda v: base64.b64encode(v).decode()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _double
    if kind in _INT_RANGES and _INT_RANGES[kind][1] > 2**32:
        return str  # 64-bit integers as strings, as protobuf's JSON mapping writes them
    return _same


def _same(value: Any) -> Any:
    return value


def _double(value: float) -> Any:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
