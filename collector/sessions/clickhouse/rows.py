"""Records as ``otel_logs`` columns, built in Python (column-oriented, one INSERT per batch):
the insert path for a ClickHouse without ``format_schema_source``. Where ClickHouse has it
(chDB, and current servers), :mod:`collector.sessions.clickhouse.ingest` hands it the records'
protobuf bytes and ClickHouse computes the same columns by the same rules; a test holds the
two to the same rows.

Attribute maps hold strings, as in the OpenTelemetry Collector's ClickHouse exporter:
strings as they are, numbers and booleans in their text form, bytes as base64, arrays and
maps as JSON.

**Values that do not fit.** Every typed column gets a value it can hold, so no record can
fail an insert by its values. A value outside its column's range (an integer past
``UInt64``/``Int64``/``Int32``, a negative count, a time before 1970 or past 2106-02-07,
which ``TimestampTime`` cannot hold) is stored *empty*: 0 for numbers, -1 for
``Sequence``; a time falls back to the next time the record has (``event.timestamp`` to the
record's time, the record's time to its observed time) and else to 0 (1970-01-01).
``LogAttributes`` keep the value as it was sent, and the row's ``ValuesOutOfRange`` names
the columns emptied. The checks run a column at a time (``min``/``max`` in C); only a column
that holds a bad value is walked in Python.

**Identity.** ``ContentHash`` is left to its column's default, a hash of the stored row
(see :mod:`collector.sessions.clickhouse.schema`).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from collector.pdata.records import AnyValue, Attributes, LogRecord
from collector.sessions.events import event_of

COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber",
    "ServiceName", "Body", "ResourceSchemaUrl", "ResourceAttributes", "ScopeSchemaUrl",
    "ScopeName", "ScopeVersion", "ScopeAttributes", "LogAttributes", "EventName", "Tenant",
    "SessionId", "PromptId", "Client", "ClientVersion", "UserId", "UserEmail", "Org",
    "ToolUseId", "Model", "EventTime", "Sequence", "InputTokens", "OutputTokens",
    "CacheReadTokens", "CacheCreationTokens", "CostUsd", "CostMicros", "DurationMs",
    "PromptLength", "StatusCode", "Success", "ValuesOutOfRange",
)  # fmt: skip

UINT64_MAX = 2**64 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
#: the last nanosecond ``TimestampTime`` (DateTime, seconds in a UInt32) can hold
TIME_MAX_NS = (2**32 - 1) * 1_000_000_000 + 999_999_999
#: integer columns: (lowest, highest, what an out-of-range value becomes)
INT_RANGES: dict[str, tuple[int, int, int]] = {
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


def columns(tenant: str, records: list[LogRecord]) -> list[list[Any]]:
    """The ``COLUMNS`` of ``otel_logs`` for a batch of one tenant."""
    cols: list[list[Any]] = [[] for _ in COLUMNS]
    (ts, trace, span, flags, sev_text, sev_num, service, body, res_url, res_attrs, scope_url,
     scope_name, scope_version, scope_attrs, log_attrs, event, tenant_col, session, prompt,
     client, client_version, user_id, user_email, org, tool_use, model, event_time, sequence,
     input_tokens, output_tokens, cache_read, cache_creation, cost, cost_micros, duration,
     prompt_length, status_code, success, out_of_range) = cols  # fmt: skip
    resource_cache: dict[int, tuple[str, dict[str, str]]] = {}
    scope_cache: dict[int, dict[str, str]] = {}
    for r in records:
        log_attrs.append(stringify(r.attributes))  # decodes them all, once; derive reads them
        d = event_of(r)
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
    flagged: dict[int, list[str]] = {}  # row -> the columns emptied in it
    for name, (low, high, empty) in INT_RANGES.items():
        _fit(cols[_INDEX[name]], low, high, empty, name, flagged)
    _fit_times(records, ts, event_time, flagged)
    none: list[str] = []
    out_of_range.extend(flagged.get(i, none) for i in range(len(records)))
    return cols


def _fit(
    col: list[int], low: int, high: int, empty: int, name: str, flagged: dict[int, list[str]]
) -> None:
    """Empty the values of ``col`` outside ``[low, high]``, in place."""
    if not col or (low <= min(col) and max(col) <= high):
        return
    for i, value in enumerate(col):
        if not low <= value <= high:
            col[i] = empty
            flagged.setdefault(i, []).append(name)


def _fit_times(
    records: list[LogRecord],
    ts: list[int],
    event_time: list[int],
    flagged: dict[int, list[str]],
) -> None:
    """Times ``TimestampTime`` cannot hold fall back to the record's next time, else 0."""
    if ts and (min(ts) < 0 or max(ts) > TIME_MAX_NS):
        for i, value in enumerate(ts):
            if not 0 <= value <= TIME_MAX_NS:
                observed = records[i].observed_time_unix_nano
                ts[i] = observed if 0 <= observed <= TIME_MAX_NS else 0
                flagged.setdefault(i, []).append("Timestamp")
    if event_time and (min(event_time) < 0 or max(event_time) > TIME_MAX_NS):
        for i, value in enumerate(event_time):
            if not 0 <= value <= TIME_MAX_NS:
                event_time[i] = ts[i]
                flagged.setdefault(i, []).append("EventTime")


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
