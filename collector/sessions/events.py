"""First-class fields of Claude Code and Cowork events, derived from a log record.

The derivation lives here, not in a component, because it belongs to every reader of a
record: :func:`event_of` derives its fields on first read and caches them on the record
(``record.derived``, which the record model keeps without knowing what it holds), so the
``cowork`` processor, the ClickHouse exporter and a storage collector reading OTLP from
Kafka all get the same fields, computed once, from the record as it is when read (after
redaction).
Parsing is lenient, as the senders' types are loose (``"19"`` and ``19``, ``"true"``);
the original attributes are never changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from collector.pdata.records import AnyValue, LogRecord, Resource

EVENT_PREFIX = "claude_code."
CLIENT_LABELS = {
    "claude-code": "Claude Code",
    "claude-code-desktop": "Claude Code Desktop",
    "cowork": "Claude Cowork",
}


@dataclass(slots=True)
class AgentEvent:
    """What sessions and prompts are built from. Absent numbers are 0, absent text ''."""

    event_name: str = ""
    session_id: str = ""
    prompt_id: str = ""
    tool_use_id: str = ""
    user_account_uuid: str = ""
    user_email: str = ""
    user_id: str = ""
    org: str = ""
    client: str = ""
    client_version: str = ""
    model: str = ""
    cost_usd: float = 0.0
    cost_micros: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    duration_ms: float = 0.0
    prompt_length: int = 0
    status_code: int = 0
    #: -1 unknown, 0 false, 1 true
    success: int = -1
    #: -1 when the record has no ``event.sequence``
    sequence: int = -1
    #: nanoseconds since the epoch: ``event.timestamp``, else the record's time, else observed
    time_unix_nano: int = 0


def event_name(record: LogRecord) -> str:
    """OTLP ``eventName``, else a ``claude_code.*`` body, else ``event.name``; no prefix."""
    name = record.event_name
    if not name:
        body = record.body_text
        if body is not None and body.startswith(EVENT_PREFIX):
            name = body
        else:
            attr = record.attribute("event.name")
            name = attr if isinstance(attr, str) else ""
    return name[len(EVENT_PREFIX) :] if name.startswith(EVENT_PREFIX) else name


def client_label(service_name: str) -> str:
    return CLIENT_LABELS.get(service_name, service_name)


def client_of(resource: Resource) -> str:
    """The client label of the records under a resource (``Claude Code``, ...)."""
    return client_label(_text(resource.attributes.get("service.name")))


def session_id(record: LogRecord) -> str:
    return _text(record.attribute("session.id"))


def event_of(record: LogRecord) -> AgentEvent:
    """The session and prompt fields of ``record``, derived on the first call and cached in
    ``record.derived`` (which whoever changes the record clears)."""
    event = record.derived
    if not isinstance(event, AgentEvent):
        event = record.derived = derive(record)
    return event


def derive(record: LogRecord) -> AgentEvent:
    """The fields of one record, derived now (:func:`event_of` caches them)."""
    a = record.attribute  # one lookup each, without decoding the other attributes
    res = record.resource.attributes
    cost = _float(a("cost_usd"))
    micros = _int(a("cost_usd_micros"))
    return AgentEvent(
        event_name=event_name(record),
        session_id=session_id(record),
        prompt_id=_text(a("prompt.id")),
        tool_use_id=_text(a("tool_use_id")),
        user_account_uuid=_text(a("user.account_uuid")),
        user_email=_text(a("user.email")) or _text(res.get("user.email")),
        user_id=_text(a("user.id")),
        org=_text(a("organization.id")) or _text(res.get("organization.id")),
        client=client_of(record.resource),
        client_version=_text(res.get("service.version")) or _text(a("app.version")),
        model=_text(a("model")),
        cost_usd=cost,
        cost_micros=micros if micros else round(cost * 1_000_000),
        input_tokens=_int(a("input_tokens")),
        output_tokens=_int(a("output_tokens")),
        cache_read_tokens=_int(a("cache_read_tokens")),
        cache_creation_tokens=_int(a("cache_creation_tokens")),
        duration_ms=_float(a("duration_ms")),
        prompt_length=_int(a("prompt_length")),
        status_code=_int(a("status_code")),
        success=_bool(a("success")),
        sequence=_int(a("event.sequence"), -1),
        time_unix_nano=_event_time(a("event.timestamp"))
        or record.time_unix_nano
        or record.observed_time_unix_nano,
    )


def _text(value: AnyValue) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, list | dict | bytes):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(value: AnyValue, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else default
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return default
            return int(number) if math.isfinite(number) else default
    return default


def _float(value: AnyValue) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else 0.0
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return 0.0
        return number if math.isfinite(number) else 0.0
    return 0.0


def _bool(value: AnyValue) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value != 0)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return 1
        if text in ("false", "0", "no"):
            return 0
    return -1


def _event_time(value: AnyValue) -> int:
    if not isinstance(value, str) or not value:
        return 0
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if parsed.tzinfo is None:
        return 0
    return int(parsed.timestamp()) * 1_000_000_000 + parsed.microsecond * 1000
