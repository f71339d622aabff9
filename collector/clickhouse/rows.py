"""Records as ``otel_logs`` columns (column-oriented, one INSERT per batch).

Attribute maps hold strings, as in the OpenTelemetry Collector's ClickHouse exporter:
strings as they are, numbers and booleans in their text form, bytes as base64, arrays and
maps as JSON.

**Values that do not fit.** Every typed column gets a value it can hold, so no record can
fail an insert by its values. A value outside its column's range (an integer past
``UInt64``/``Int64``/``Int32``, a negative count, a time before 1970 or past 2106-02-07,
which ``TimestampTime`` cannot hold) is stored *empty*: 0 for numbers, -1 for
``Sequence``; a time falls back to the next time the record has (``event.timestamp`` to the
record's time, the record's time to its observed time) and else to 0 (1970-01-01).
``LogAttributes`` keep the value as it was sent. :func:`columns` counts what it emptied, by
column. The checks run a column at a time (``min``/``max`` in C); only a column that holds
a bad value is walked in Python.

**Identity.** Where the sender numbers its events (``session.id`` and ``event.sequence``,
as Claude Code and Cowork do), ClickHouse forms ``RecordId`` from the tenant, session,
sequence, event name and event time. For the other records, ``ContentHash`` is a hash of
the whole record as sent: its protobuf encoding with its resource's and scope's (and their
schema URLs), so a resent record is the same row and records that differ in anything are
different rows.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from typing import Any

import orjson

from collector import otlp_proto
from collector.agent_events import AgentEvent
from collector.records import AnyValue, Attributes, LogRecord, Resource, Scope

COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber",
    "ServiceName", "Body", "ResourceSchemaUrl", "ResourceAttributes", "ScopeSchemaUrl",
    "ScopeName", "ScopeVersion", "ScopeAttributes", "LogAttributes", "EventName", "Tenant",
    "SessionId", "PromptId", "Client", "ClientVersion", "UserId", "UserEmail", "Org",
    "ToolUseId", "Model", "EventTime", "Sequence", "InputTokens", "OutputTokens",
    "CacheReadTokens", "CacheCreationTokens", "CostUsd", "CostMicros", "DurationMs",
    "PromptLength", "StatusCode", "Success", "ContentHash",
)  # fmt: skip

UINT64_MAX = 2**64 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
#: the last nanosecond ``TimestampTime`` (DateTime, seconds in a UInt32) can hold
TIME_MAX_NS = (2**32 - 1) * 1_000_000_000 + 999_999_999
#: integer columns: (lowest, highest, what an out-of-range value becomes)
_INT_RANGES: dict[str, tuple[int, int, int]] = {
    "Sequence": (INT64_MIN, INT64_MAX, -1),
    "InputTokens": (0, UINT64_MAX, 0),
    "OutputTokens": (0, UINT64_MAX, 0),
    "CacheReadTokens": (0, UINT64_MAX, 0),
    "CacheCreationTokens": (0, UINT64_MAX, 0),
    "CostMicros": (INT64_MIN, INT64_MAX, 0),
    "PromptLength": (0, UINT64_MAX, 0),
    "StatusCode": (INT32_MIN, INT32_MAX, 0),
    "SeverityNumber": (0, 255, 0),
}
_INDEX = {name: i for i, name in enumerate(COLUMNS)}


def columns(tenant: str, records: list[LogRecord]) -> tuple[list[list[Any]], Counter[str]]:
    """The ``COLUMNS`` of ``otel_logs`` for a batch of one tenant, and how many values of
    each column did not fit and were stored empty."""
    cols: list[list[Any]] = [[] for _ in COLUMNS]
    (ts, trace, span, flags, sev_text, sev_num, service, body, res_url, res_attrs, scope_url,
     scope_name, scope_version, scope_attrs, log_attrs, event, tenant_col, session, prompt,
     client, client_version, user_id, user_email, org, tool_use, model, event_time, sequence,
     input_tokens, output_tokens, cache_read, cache_creation, cost, cost_micros, duration,
     prompt_length, status_code, success, content_hash) = cols  # fmt: skip
    resource_cache: dict[int, tuple[str, dict[str, str]]] = {}
    scope_cache: dict[int, dict[str, str]] = {}
    context_cache: dict[tuple[int, int], bytes] = {}
    for r in records:
        log_attrs.append(stringify(r.attributes))  # decodes them all, once; derive reads them
        d: AgentEvent = r.derived
        res = resource_cache.get(id(r.resource))
        if res is None:
            attrs = stringify(r.resource.attributes)
            res = (attrs.get("service.name", ""), attrs)
            resource_cache[id(r.resource)] = res
        sc = scope_cache.get(id(r.scope))
        if sc is None:
            sc = scope_cache[id(r.scope)] = stringify(r.scope.attributes)
        ts.append(r.time_unix_nano or r.observed_time_unix_nano)
        trace.append(r.trace_id.hex())
        span.append(r.span_id.hex())
        flags.append(r.flags & 0xFF)
        sev_text.append(r.severity_text)
        sev_num.append(r.severity_number)
        service.append(res[0])
        body.append(as_string(r.body))
        res_url.append(r.resource.schema_url)
        res_attrs.append(res[1])
        scope_url.append(r.scope.schema_url)
        scope_name.append(r.scope.name)
        scope_version.append(r.scope.version)
        scope_attrs.append(sc)
        event.append(d.event_name)
        tenant_col.append(tenant)
        session.append(d.session_id)
        prompt.append(d.prompt_id)
        client.append(d.client)
        client_version.append(d.client_version)
        user_id.append(d.user_id)
        user_email.append(d.user_email)
        org.append(d.org)
        tool_use.append(d.tool_use_id)
        model.append(d.model)
        event_time.append(d.time_unix_nano)
        sequence.append(d.sequence)
        input_tokens.append(d.input_tokens)
        output_tokens.append(d.output_tokens)
        cache_read.append(d.cache_read_tokens)
        cache_creation.append(d.cache_creation_tokens)
        cost.append(d.cost_usd)
        cost_micros.append(d.cost_micros)
        duration.append(d.duration_ms)
        prompt_length.append(d.prompt_length)
        status_code.append(d.status_code)
        success.append(d.success)
        if d.session_id and d.sequence >= 0:
            content_hash.append(0)  # RecordId comes from the sender's numbering
        else:
            content_hash.append(content_key(r, context_cache))
    emptied: Counter[str] = Counter()
    for name, (low, high, empty) in _INT_RANGES.items():
        _fit(cols[_INDEX[name]], low, high, empty, name, emptied)
    _fit_times(records, ts, event_time, emptied)
    for i, s in enumerate(sequence):  # an emptied sequence: identify by content instead
        if s < 0 and session[i] and not content_hash[i]:
            content_hash[i] = content_key(records[i], context_cache)
    return cols, emptied


def _fit(col: list[int], low: int, high: int, empty: int, name: str, emptied: Counter[str]) -> None:
    """Empty the values of ``col`` outside ``[low, high]``, in place."""
    if not col or (low <= min(col) and max(col) <= high):
        return
    for i, value in enumerate(col):
        if not low <= value <= high:
            col[i] = empty
            emptied[name] += 1


def _fit_times(
    records: list[LogRecord], ts: list[int], event_time: list[int], emptied: Counter[str]
) -> None:
    """Times ``TimestampTime`` cannot hold fall back to the record's next time, else 0."""
    if ts and (min(ts) < 0 or max(ts) > TIME_MAX_NS):
        for i, value in enumerate(ts):
            if not 0 <= value <= TIME_MAX_NS:
                observed = records[i].observed_time_unix_nano
                ts[i] = observed if 0 <= observed <= TIME_MAX_NS else 0
                emptied["Timestamp"] += 1
    if event_time and (min(event_time) < 0 or max(event_time) > TIME_MAX_NS):
        for i, value in enumerate(event_time):
            if not 0 <= value <= TIME_MAX_NS:
                event_time[i] = ts[i]
                emptied["EventTime"] += 1


def content_key(record: LogRecord, context_cache: dict[tuple[int, int], bytes]) -> int:
    """A 64-bit hash of the whole record as sent, with its resource and scope."""
    key = (id(record.resource), id(record.scope))
    context = context_cache.get(key)
    if context is None:
        context = context_cache[key] = _context(record.resource, record.scope)
    source = record.source if record.source is not None else otlp_proto.encode_record(record)
    digest = hashlib.blake2b(context, digest_size=8)
    digest.update(source)
    return int.from_bytes(digest.digest(), "little") or 1


def _context(resource: Resource, scope: Scope) -> bytes:
    parts = (
        resource.source if resource.source is not None else otlp_proto.encode_resource(resource),
        resource.schema_url.encode(),
        scope.source if scope.source is not None else otlp_proto.encode_scope(scope),
        scope.schema_url.encode(),
    )
    # length-prefixed, so that no two different contexts join to the same bytes
    return b"".join(len(p).to_bytes(8, "little") + p for p in parts)


def stringify(attributes: Attributes) -> dict[str, str]:
    return {k: v if isinstance(v, str) else as_string(v) for k, v in attributes.items()}


def as_string(value: AnyValue) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return orjson.dumps(_jsonable(value)).decode()


def _jsonable(value: AnyValue) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value
