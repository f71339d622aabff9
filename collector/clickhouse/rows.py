"""Records as ``otel_logs`` columns (column-oriented, one INSERT per batch).

Attribute maps hold strings, as in the OpenTelemetry Collector's ClickHouse exporter:
strings as they are, numbers and booleans in their text form, bytes as base64, arrays and
maps as JSON.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from collector.agent_events import AgentEvent
from collector.records import AnyValue, Attributes, LogRecord

COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber",
    "ServiceName", "Body", "ResourceSchemaUrl", "ResourceAttributes", "ScopeSchemaUrl",
    "ScopeName", "ScopeVersion", "ScopeAttributes", "LogAttributes", "EventName", "Tenant",
    "SessionId", "PromptId", "Client", "ClientVersion", "UserId", "UserEmail", "Org",
    "ToolUseId", "Model", "EventTime", "Sequence", "InputTokens", "OutputTokens",
    "CacheReadTokens", "CacheCreationTokens", "CostUsd", "CostMicros", "DurationMs",
    "PromptLength", "StatusCode", "Success",
)  # fmt: skip


def columns(tenant: str, records: list[LogRecord]) -> list[list[Any]]:
    """The ``COLUMNS`` of ``otel_logs`` for a batch of one tenant."""
    cols: list[list[Any]] = [[] for _ in COLUMNS]
    (ts, trace, span, flags, sev_text, sev_num, service, body, res_url, res_attrs, scope_url,
     scope_name, scope_version, scope_attrs, log_attrs, event, tenant_col, session, prompt,
     client, client_version, user_id, user_email, org, tool_use, model, event_time, sequence,
     input_tokens, output_tokens, cache_read, cache_creation, cost, cost_micros, duration,
     prompt_length, status_code, success) = cols  # fmt: skip
    resource_cache: dict[int, tuple[str, dict[str, str]]] = {}
    scope_cache: dict[int, dict[str, str]] = {}
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
        sev_num.append(max(0, min(r.severity_number, 255)))
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
        input_tokens.append(max(d.input_tokens, 0))
        output_tokens.append(max(d.output_tokens, 0))
        cache_read.append(max(d.cache_read_tokens, 0))
        cache_creation.append(max(d.cache_creation_tokens, 0))
        cost.append(d.cost_usd)
        cost_micros.append(d.cost_micros)
        duration.append(d.duration_ms)
        prompt_length.append(max(d.prompt_length, 0))
        status_code.append(max(-(2**31), min(d.status_code, 2**31 - 1)))
        success.append(d.success)
    return cols


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
