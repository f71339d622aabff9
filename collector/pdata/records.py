"""The one record shape that both OTLP decoders produce and every component shares.

Values keep their OTLP types as plain Python values:

==============  ======================
OTLP AnyValue   Python
==============  ======================
stringValue     ``str``
boolValue       ``bool``
intValue        ``int``
doubleValue     ``float``
bytesValue      ``bytes``
arrayValue      ``list`` of values
kvlistValue     ``dict`` of str -> value
(empty)         ``None``
==============  ======================

Resource and scope objects are shared by every record that came under them, so a batch
keeps its original grouping and encoders can rebuild ``resourceLogs``/``scopeLogs``.
Records decoded from protobuf keep their protobuf encoding (``source``) so that re-encoding
an unchanged record is a copy of its bytes, not Python work per field, and decode their
attributes only when something reads them (:meth:`LogRecord.attribute` reads one).
A :class:`LogBatch` belongs to one tenant, which comes from the API key that sent it and
never from the payload.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, TypeAlias

#: The one nesting limit of both encodings: a record may be nested at most this many
#: protobuf messages deep, counted from the ``ExportLogsServiceRequest`` (0). It is the limit
#: of the protobuf decoder (upb) that the receiver, the Kafka receiver, the disk queue and the
#: store all use, so whatever the receiver accepts every later stage decodes. In AnyValue
#: levels: a log record's body holds 48 levels of arrays or 32 of key-value lists (an array
#: costs 2 messages, a key-value list 3).
MAX_MESSAGE_DEPTH = 100
#: how deep an AnyValue message is, where each place that holds one starts
BODY_DEPTH = 4  # request > resource_logs > scope_logs > log_record > body
LOG_ATTRIBUTE_DEPTH = 5  # ... > log_record > key_value > value
SCOPE_ATTRIBUTE_DEPTH = 5  # request > resource_logs > scope_logs > scope > key_value > value
RESOURCE_ATTRIBUTE_DEPTH = 4  # request > resource_logs > resource > key_value > value


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """What one request may carry, checked by the decoders before records are built."""

    #: records, scopes and resources
    records: int
    #: attributes of resources, scopes and records, and the values nested in attribute
    #: values and bodies (array elements, key-value list entries), duplicates included
    attributes: int

    def counted_exactly(self, size: int) -> bool:
        """Whether a request of ``size`` bytes (decompressed) may hold more attributes and
        nested values than allowed, so that the decoder must count them all: each takes 2
        bytes or more on the wire (a tag and a length in protobuf, ``{}`` in JSON), so a
        smaller request cannot."""
        return size > 2 * self.attributes


AnyValue: TypeAlias = (
    "str | bool | int | float | bytes | list[AnyValue] | dict[str, AnyValue] | None"
)
Attributes: TypeAlias = "dict[str, AnyValue]"


@dataclass(slots=True, eq=False)
class Resource:
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    schema_url: str = ""
    #: the protobuf encoding of the ``Resource`` it was decoded from (see
    #: ``LogRecord.source``); ``None`` once changed
    source: bytes | None = None


@dataclass(slots=True, eq=False)
class Scope:
    name: str = ""
    version: str = ""
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    schema_url: str = ""
    #: the protobuf encoding of the ``InstrumentationScope`` it was decoded from
    source: bytes | None = None


EMPTY_RESOURCE = Resource()
EMPTY_SCOPE = Scope()


#: the body of a record whose decoder has not read it yet
_LAZY: Any = object()


class LogRecord:
    """One OTLP log record with its resource and scope.

    ``attributes`` and ``body`` may be read lazily: a decoder can hand over records whose
    attributes stay in its own form until someone reads them (see
    :class:`collector.pdata.otlp_proto.ProtoLogRecord`). :meth:`attribute` reads one attribute
    without building the whole dict, which is what the hot path of an edge collector does.
    ``derived`` is computed from the record on first read and cached; set it to ``None``
    when the record changes so that it is derived again.
    """

    __slots__ = (
        "_attributes",
        "_body",
        "derived",
        "dropped_attributes_count",
        "event_name",
        "flags",
        "observed_time_unix_nano",
        "resource",
        "scope",
        "severity_number",
        "severity_text",
        "source",
        "span_id",
        "time_unix_nano",
        "trace_id",
    )
    _attributes: Attributes | None  # None: not decoded yet (see _load_attributes)

    def __init__(
        self,
        time_unix_nano: int = 0,
        observed_time_unix_nano: int = 0,
        severity_number: int = 0,
        severity_text: str = "",
        body: AnyValue = None,
        attributes: Attributes | None = None,
        dropped_attributes_count: int = 0,
        flags: int = 0,
        trace_id: bytes = b"",
        span_id: bytes = b"",
        event_name: str = "",
        resource: Resource = EMPTY_RESOURCE,
        scope: Scope = EMPTY_SCOPE,
        derived: object | None = None,
        source: bytes | None = None,
    ) -> None:
        self.time_unix_nano = time_unix_nano
        self.observed_time_unix_nano = observed_time_unix_nano
        self.severity_number = severity_number
        self.severity_text = severity_text
        self._body = body
        self._attributes = {} if attributes is None else attributes
        self.dropped_attributes_count = dropped_attributes_count
        self.flags = flags
        self.trace_id = trace_id
        self.span_id = span_id
        self.event_name = event_name
        self.resource = resource
        self.scope = scope
        #: what a domain derives from the record, cached by it (the session fields of
        #: ``collector.sessions.events.event_of``); whoever changes the record's attributes
        #: or body must set it to ``None``
        self.derived = derived
        #: the record's protobuf encoding as it was received, which the protobuf encoder
        #: copies whole instead of rebuilding field by field. Whoever changes a record's OTLP
        #: fields (attributes, body, ...) must set it to ``None``.
        self.source = source

    @property
    def attributes(self) -> Attributes:
        attributes = self._attributes
        if attributes is None:
            attributes = self._attributes = self._load_attributes()
        return attributes

    @attributes.setter
    def attributes(self, value: Attributes) -> None:
        self._attributes = value

    @property
    def body(self) -> AnyValue:
        body = self._body
        if body is _LAZY:
            body = self._body = self._load_body()
        return body

    @body.setter
    def body(self, value: AnyValue) -> None:
        self._body = value

    @property
    def body_text(self) -> str | None:
        """The body if it is a string, else ``None``; a lazy record's subclass reads it
        without converting a body of another kind (which may be large)."""
        body = self.body
        return body if isinstance(body, str) else None

    def attribute(self, key: str) -> AnyValue:
        """One attribute's value (``None`` when absent); a lazy record's subclass reads it
        without decoding the others."""
        return self.attributes.get(key)

    def pick(self, keys: tuple[str, ...]) -> list[tuple[str, AnyValue]]:
        """The ``(key, value)`` of those of ``keys`` the record has, in the order of ``keys``;
        one call for several lookups, without decoding the other attributes."""
        attributes = self.attributes
        return [(key, attributes[key]) for key in keys if key in attributes]

    # How a lazy record reads its undecoded form; a decoder's subclass overrides them.
    def _load_attributes(self) -> Attributes:
        return {}

    def _load_body(self) -> AnyValue:
        return None

    def __repr__(self) -> str:
        return (
            f"LogRecord(event_name={self.event_name!r}, body={self.body!r}, "
            f"attributes={self.attributes!r}, time_unix_nano={self.time_unix_nano})"
        )


@dataclass(slots=True, eq=False)
class LogBatch:
    """Log records of one tenant, flowing through a pipeline as one unit."""

    tenant: str
    records: list[LogRecord]

    def __len__(self) -> int:
        return len(self.records)

    def copy(self) -> LogBatch:
        """A deep copy, for a consumer that changes data while another branch reads it."""
        return LogBatch(self.tenant, copy.deepcopy(self.records))

    def grouped(self) -> list[tuple[Resource, list[tuple[Scope, list[LogRecord]]]]]:
        """Records grouped by resource, then scope, in first-seen order."""
        by_resource: dict[int, tuple[Resource, dict[int, tuple[Scope, list[LogRecord]]]]] = {}
        resource: Resource | None = None
        scope: Scope | None = None
        run: list[LogRecord] = []
        for record in self.records:
            # Records come in runs under one resource and scope: look those up once a run.
            if record.scope is not scope or record.resource is not resource:
                resource, scope = record.resource, record.scope
                entry = by_resource.get(id(resource))
                if entry is None:
                    entry = by_resource[id(resource)] = (resource, {})
                scope_entry = entry[1].get(id(scope))
                if scope_entry is None:
                    scope_entry = entry[1][id(scope)] = (scope, [])
                run = scope_entry[1]
            run.append(record)
        return [(res, list(scopes.values())) for res, scopes in by_resource.values()]
