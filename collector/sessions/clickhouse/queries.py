"""Reading sessions and prompts. Every query is filtered by tenant unless the caller is
trusted with all of them (the local CLI); results are plain dicts with the documented
field names, newest first, times as ISO 8601 strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collector.sessions.clickhouse.client import Store
from collector.sessions.clickhouse.errors import code_of

#: ClickHouse's UNKNOWN_TABLE: a store of a schema before version 4 (read, not migrated, by
#: the CLI) has no metrics or traces
_UNKNOWN_TABLE = 60

SESSION_FIELDS = (
    "session_id", "tenant", "client", "client_version", "user_email", "user_id", "org",
    "first_seen", "last_seen", "prompts", "api_requests", "api_errors", "tool_calls",
    "tool_failures", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_creation_tokens", "cost_usd", "models", "title",
)  # fmt: skip
PROMPT_FIELDS = (
    "prompt_id", "session_id", "time", "text", "length", "response", "tool_calls",
    "api_requests", "api_errors", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_creation_tokens", "cost_usd", "duration_ms",
)  # fmt: skip
#: what a session's Claude Code metrics add to it (0 when it has none)
METRIC_FIELDS = ("lines_added", "lines_removed", "commits", "pull_requests", "active_time_s")
MAX_LIMIT = 1000


def list_sessions(
    store: Store,
    tenant: str | None,
    *,
    client: str | None = None,
    user: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Sessions newest first (by last activity); ``tenant=None`` means every tenant.
    ``search`` finds text in a session's title or any of its prompts (case-insensitive)."""
    where, params = _tenant_filter(tenant)
    if search:
        inner, _ = _tenant_filter(tenant, "Tenant")
        inner.append("positionCaseInsensitiveUTF8(PromptText, {search:String}) > 0")
        where.append(
            "(positionCaseInsensitiveUTF8(title, {search:String}) > 0 OR session_id IN "
            f"(SELECT SessionId FROM session_events {_where(inner)}))"
        )
        params["search"] = search
    if client:
        where.append("client = {client:String}")
        params["client"] = client
    if user:
        where.append("(user_email = {user:String} OR user_id = {user:String})")
        params["user"] = user
    if since:
        where.append("last_seen >= {since:DateTime64(9)}")
        params["since"] = since
    if until:
        where.append("first_seen < {until:DateTime64(9)}")
        params["until"] = until
    params["limit"] = max(1, min(limit, MAX_LIMIT))
    sql = (
        f"SELECT {', '.join(SESSION_FIELDS)} FROM sessions {_where(where)} "
        "ORDER BY last_seen DESC, session_id LIMIT {limit:UInt32} OFFSET {offset:UInt32}"
    )
    params["offset"] = max(0, offset)
    return with_metrics(store, [_session(row) for row in store.query(sql, params)])


def get_session(
    store: Store, tenant: str | None, session_id: str, *, figures: bool = True
) -> dict[str, Any] | None:
    """One session, with its metric figures unless ``figures=False`` (an existence check)."""
    where, params = _tenant_filter(tenant)
    where.append("session_id = {sid:String}")
    params["sid"] = session_id
    sql = f"SELECT {', '.join(SESSION_FIELDS)} FROM sessions {_where(where)} LIMIT 1"
    rows = store.query(sql, params)
    if not rows:
        return None
    if not figures:
        return _session(rows[0])
    (session,) = with_metrics(store, [_session(rows[0])])
    return session


def get_session_detail(store: Store, tenant: str | None, session_id: str) -> dict[str, Any] | None:
    """A session with its metric figures and its traces (``traces``)."""
    session = get_session(store, tenant, session_id)
    if session is not None:
        session["traces"] = session_traces(store, session["tenant"], session_id)
    return session


#: Claude Code's metrics that a session's figures come from
_METRICS = {
    "lines": "claude_code.lines_of_code.count",
    "commits": "claude_code.commit.count",
    "pull_requests": "claude_code.pull_request.count",
    "active_time": "claude_code.active_time.total",
}
#: A session's figures from ``otel_metrics_sum``, exact under retries and redelivery. The inner
#: query reads each data point once (``FINAL``: its copies collapse on ``RecordId``) and
#: folds each series (metric, attributes, start time): delta points (temporality 1) are
#: summed, a cumulative series (2) counts its latest value. The outer one sums the series.
#: Values that are NaN, infinite or negative count as 0.
_SESSION_METRICS = """
SELECT Tenant AS tenant, SessionId AS session_id,
    sumIf(v, MetricName = {lines:String} AND kind = 'added') AS lines_added,
    sumIf(v, MetricName = {lines:String} AND kind = 'removed') AS lines_removed,
    sumIf(v, MetricName = {commits:String}) AS commits,
    sumIf(v, MetricName = {pull_requests:String}) AS pull_requests,
    sumIf(v, MetricName = {active_time:String}) AS active_time_s
FROM (
    SELECT Tenant, Attributes['session.id'] AS SessionId, MetricName,
        Attributes['type'] AS kind,
        if(AggregationTemporality = 2, argMax(x, TimeUnix), sum(x)) AS v
    FROM (
        SELECT Tenant, Attributes, MetricName, AggregationTemporality, StartTimeUnix,
            TimeUnix, if(isFinite(Value) AND Value > 0, Value, 0) AS x
        FROM otel_metrics_sum FINAL
        WHERE {where}
    )
    GROUP BY Tenant, SessionId, MetricName, Attributes, StartTimeUnix, AggregationTemporality
)
GROUP BY Tenant, SessionId
"""


def session_metrics(
    store: Store, tenant: str | None, session_ids: list[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The metric figures of sessions, by (tenant, session id); sessions without metrics
    are absent."""
    if not session_ids:
        return {}
    where, params = _tenant_filter(tenant, "Tenant")
    where.append("MetricName IN ({names:Array(String)})")
    where.append("Attributes['session.id'] IN ({sids:Array(String)})")
    params.update(_METRICS, names=list(_METRICS.values()), sids=sorted(set(session_ids)))
    rows = _signal_query(store, _SESSION_METRICS.replace("{where}", " AND ".join(where)), params)
    return {
        (row["tenant"], row["session_id"]): {
            "lines_added": round(float(row["lines_added"])),
            "lines_removed": round(float(row["lines_removed"])),
            "commits": round(float(row["commits"])),
            "pull_requests": round(float(row["pull_requests"])),
            "active_time_s": round(float(row["active_time_s"]), 3),
        }
        for row in rows
    }


_NO_METRICS = dict.fromkeys(METRIC_FIELDS, 0)


def with_metrics(store: Store, sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``sessions`` (of any tenants) with their metric figures, 0 where they have none."""
    by_tenant: dict[str, list[str]] = {}
    for session in sessions:
        by_tenant.setdefault(session["tenant"], []).append(session["session_id"])
    figures: dict[tuple[str, str], dict[str, Any]] = {}
    for tenant, ids in by_tenant.items():
        figures.update(session_metrics(store, tenant, ids))
    for session in sessions:
        key = (session["tenant"], session["session_id"])
        session.update(figures.get(key, _NO_METRICS))
    return sessions


MAX_TRACES = 1000


def session_traces(store: Store, tenant: str | None, session_id: str) -> list[dict[str, Any]]:
    """The traces of a session's spans (``session.id``), in the order they started: each
    with its span count, its root span's name (else its first span's), start and duration."""
    where, params = _tenant_filter(tenant, "Tenant")
    where.append("SpanAttributes['session.id'] = {sid:String}")
    params["sid"] = session_id
    rows = _signal_query(
        store,
        "SELECT TraceId AS trace_id, count() AS spans, "
        "if(countIf(ParentSpanId = '') > 0, argMinIf(SpanName, Timestamp, ParentSpanId = ''), "
        "argMin(SpanName, Timestamp)) AS root_name, min(Timestamp) AS start, "
        "max(toUnixTimestamp64Nano(Timestamp) + Duration) - min(toUnixTimestamp64Nano(Timestamp)) "
        "AS duration_ns "
        f"FROM otel_traces FINAL {_where(where)} "
        f"GROUP BY TraceId ORDER BY start, trace_id LIMIT {MAX_TRACES}",
        params,
    )
    return [
        {
            "trace_id": row["trace_id"],
            "spans": int(row["spans"]),
            "root_name": row["root_name"],
            "start": _iso(row["start"]),
            "duration_ms": round(int(row["duration_ns"]) / 1e6, 3),
        }
        for row in rows
    ]


def list_prompts(store: Store, tenant: str | None, session_id: str) -> list[dict[str, Any]]:
    """The prompts of one session, newest first."""
    where, params = _tenant_filter(tenant)
    where.append("session_id = {sid:String}")
    params["sid"] = session_id
    sql = (
        f"SELECT {', '.join(PROMPT_FIELDS)} FROM prompts {_where(where)} "
        f"ORDER BY time DESC, prompt_id LIMIT {MAX_LIMIT * 10}"
    )
    return [_prompt(row) for row in store.query(sql, params)]


#: the attributes of a record a session's timeline shows, beside its typed columns
EVENT_ATTRIBUTES = (
    "prompt", "response", "tool_name", "decision", "source", "tool_parameters", "error",
    "attempt", "request_id",
)  # fmt: skip
MAX_EVENTS = 10_000


def session_events(store: Store, tenant: str | None, session_id: str) -> list[dict[str, Any]]:
    """The events of one session in the order they happened (each stored once): what the
    console's timeline shows. At most ``MAX_EVENTS``."""
    where, params = _tenant_filter(tenant, "Tenant")
    where.append("SessionId = {sid:String}")
    params["sid"] = session_id
    attributes = ", ".join(f"LogAttributes['{key}'] AS `{key}`" for key in EVENT_ATTRIBUTES)
    sql = (
        "SELECT EventName AS event, EventTime AS time, Sequence AS sequence, "
        "PromptId AS prompt_id, ToolUseId AS tool_use_id, Model AS model, "
        "InputTokens AS input_tokens, OutputTokens AS output_tokens, "
        "CacheReadTokens AS cache_read_tokens, CacheCreationTokens AS cache_creation_tokens, "
        "CostMicros AS cost_micros, DurationMs AS duration_ms, StatusCode AS status_code, "
        f"Success AS success, {attributes} FROM otel_logs FINAL {_where(where)} "
        f"ORDER BY EventTime, Sequence, RecordId LIMIT {MAX_EVENTS}"
    )
    out = []
    for row in store.query(sql, params):
        event = {k: v for k, v in row.items() if v not in ("", None)}
        event["event"] = row["event"]
        event["time"] = _iso(row["time"])
        event["cost_usd"] = round(int(row["cost_micros"]) / 1_000_000, 6)
        del event["cost_micros"]
        event["success"] = {1: True, 0: False}.get(int(row["success"]))
        if event["sequence"] < 0:
            del event["sequence"]
        out.append(event)
    return out


def list_clients(store: Store, tenant: str | None) -> list[str]:
    """The clients that sent sessions, by name."""
    where, params = _tenant_filter(tenant, "Tenant")
    where.append("Client != ''")
    sql = f"SELECT DISTINCT Client AS c FROM session_events {_where(where)} ORDER BY c"
    return [row["c"] for row in store.query(sql, params)]


OVERVIEW_GROUPS = {
    "client": "Client",
    "model": "Model",
    "user": "if(UserEmail != '', UserEmail, UserId)",
}


def overview(
    store: Store,
    tenant: str | None,
    *,
    since: datetime,
    until: datetime | None = None,
    by: str = "client",
    client: str | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """Cost and tokens of API requests over a window, per time bucket and group (``by``:
    client, model or user), and the top users by cost and the top tools by failures."""
    if by not in OVERVIEW_GROUPS:
        raise ValueError(f"by must be one of {', '.join(OVERVIEW_GROUPS)}")
    until = until or datetime.now(UTC)
    span = (until - since).total_seconds()
    step = 3600 if span <= 2 * 86400 else 86400
    where, params = _tenant_filter(tenant, "Tenant")
    where.append("EventTime >= {since:DateTime64(9)} AND EventTime < {until:DateTime64(9)}")
    params.update(since=since, until=until, step=step)
    if client:
        where.append("Client = {client:String}")
        params["client"] = client
    if user:
        where.append("(UserEmail = {user:String} OR UserId = {user:String})")
        params["user"] = user
    group = OVERVIEW_GROUPS[by]
    # one pass over the events for both the series and the users (grouping sets), and the
    # tools from the records, each counted once (LIMIT 1 BY its identity: cheaper than
    # FINAL on the wide table)
    rows = store.query(
        "SELECT grouping(bucket, group) = 0 AS is_series, "
        "toStartOfInterval(EventTime, toIntervalSecond({step:UInt32})) AS bucket, "
        f"{group} AS group, if(UserEmail != '', UserEmail, UserId) AS user, "
        "sumIf(CostMicros, EventName = 'api_request') / 1000000 AS cost_usd, "
        "sumIf(InputTokens, EventName = 'api_request') AS input_tokens, "
        "sumIf(OutputTokens, EventName = 'api_request') AS output_tokens, "
        "countIf(EventName = 'api_error' OR (EventName = 'tool_result' AND Success = 0)) "
        "AS failures, uniqExact(SessionId) AS sessions, "
        "countIf(EventName = 'api_request') AS requests "
        f"FROM session_events FINAL {_where(where)} "
        "GROUP BY GROUPING SETS ((bucket, group), (user))",
        params,
    )
    series = sorted(
        (r for r in rows if r["is_series"] and r["requests"]),
        key=lambda r: (r["bucket"], r["group"]),
    )
    users = sorted(
        (r for r in rows if not r["is_series"]),
        key=lambda r: (-r["cost_usd"], -r["failures"], r["user"]),
    )[:10]
    results = _where([*where, "EventName = 'tool_result'"])
    tools = store.query(
        "SELECT LogAttributes['tool_name'] AS tool, count() AS calls, "
        "countIf(Success = 0) AS failures, round(avg(DurationMs)) AS avg_duration_ms "
        f"FROM (SELECT LogAttributes, Success, DurationMs FROM otel_logs {results} "
        "LIMIT 1 BY RecordId) "
        "GROUP BY tool ORDER BY failures DESC, calls DESC, tool LIMIT 10",
        params,
    )
    return {
        "since": _iso(since),
        "until": _iso(until),
        "step_seconds": step,
        "by": by,
        "series": [
            {
                "bucket": _iso(r["bucket"]),
                "group": r["group"] or "(none)",
                "cost_usd": round(float(r["cost_usd"]), 6),
                "input_tokens": int(r["input_tokens"]),
                "output_tokens": int(r["output_tokens"]),
            }
            for r in series
        ],
        "top_users": [
            {
                "user": r["user"] or "(unknown)",
                "cost_usd": round(float(r["cost_usd"]), 6),
                "failures": int(r["failures"]),
                "sessions": int(r["sessions"]),
            }
            for r in users
        ],
        "top_tools": [
            {
                "tool": r["tool"] or "(unnamed)",
                "calls": int(r["calls"]),
                "failures": int(r["failures"]),
                "avg_duration_ms": float(r["avg_duration_ms"]),
            }
            for r in tools
        ],
    }


def _signal_query(store: Store, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """A query of the metrics or traces tables; nothing where the store has none yet."""
    try:
        return store.query(sql, params)
    except Exception as exc:
        if code_of(exc) == _UNKNOWN_TABLE:
            return []
        raise


def _tenant_filter(tenant: str | None, column: str = "tenant") -> tuple[list[str], dict[str, Any]]:
    """The condition on ``column`` (``tenant`` in the views, ``Tenant`` in the tables)."""
    if tenant is None:
        return [], {}
    return [column + " = {tenant:String}"], {"tenant": tenant}


def _where(conditions: list[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def _session(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in SESSION_FIELDS}
    out["first_seen"] = _iso(row["first_seen"])
    out["last_seen"] = _iso(row["last_seen"])
    out["cost_usd"] = round(float(row["cost_usd"]), 6)
    out["models"] = list(row["models"])
    return out


def _prompt(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in PROMPT_FIELDS}
    out["time"] = _iso(row["time"])
    out["cost_usd"] = round(float(row["cost_usd"]), 6)
    out["duration_ms"] = int(row["duration_ms"])
    return out


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time or date (UTC unless it says otherwise), or a duration ago (``24h``)."""
    from collector.confmap.units import parse_duration

    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            ago = parse_duration(text)
        except ValueError:
            raise ValueError(
                f"invalid time {text!r}: use ISO 8601 (2026-11-26T20:00:00Z) or a duration "
                "ago (24h)"
            ) from None
        return (now or datetime.now(UTC)) - ago
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
