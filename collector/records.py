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
Records decoded from protobuf keep their protobuf message (``source``) so that re-encoding
an unchanged record is a copy in C, not Python work per field.
A :class:`LogBatch` belongs to one tenant, which comes from the API key that sent it and
never from the payload.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from collector.agent_events import AgentEvent

AnyValue: TypeAlias = (
    "str | bool | int | float | bytes | list[AnyValue] | dict[str, AnyValue] | None"
)
Attributes: TypeAlias = "dict[str, AnyValue]"


@dataclass(slots=True, eq=False)
class Resource:
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    schema_url: str = ""
    #: the protobuf ``Resource`` it was decoded from (see ``LogRecord.source``)
    source: Any = None


@dataclass(slots=True, eq=False)
class Scope:
    name: str = ""
    version: str = ""
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    schema_url: str = ""
    #: the protobuf ``InstrumentationScope`` it was decoded from
    source: Any = None


EMPTY_RESOURCE = Resource()
EMPTY_SCOPE = Scope()


@dataclass(slots=True, eq=False)
class LogRecord:
    """One OTLP log record with its resource and scope."""

    time_unix_nano: int = 0
    observed_time_unix_nano: int = 0
    severity_number: int = 0
    severity_text: str = ""
    body: AnyValue = None
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    flags: int = 0
    trace_id: bytes = b""
    span_id: bytes = b""
    event_name: str = ""
    resource: Resource = EMPTY_RESOURCE
    scope: Scope = EMPTY_SCOPE
    #: fields derived by the ``cowork`` processor; not part of OTLP, never encoded
    derived: AgentEvent | None = None
    #: the protobuf ``LogRecord`` this record was decoded from, which the protobuf encoder
    #: copies whole instead of rebuilding field by field. Whoever changes a record's OTLP
    #: fields (attributes, body, ...) must set it to ``None``.
    source: Any = None


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
        for record in self.records:
            entry = by_resource.get(id(record.resource))
            if entry is None:
                entry = (record.resource, {})
                by_resource[id(record.resource)] = entry
            scopes = entry[1]
            scope_entry = scopes.get(id(record.scope))
            if scope_entry is None:
                scope_entry = (record.scope, [])
                scopes[id(record.scope)] = scope_entry
            scope_entry[1].append(record)
        return [(res, list(scopes.values())) for res, scopes in by_resource.values()]
