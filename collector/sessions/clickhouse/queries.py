"""Reading sessions and prompts. Every query is filtered by tenant unless the caller is
trusted with all of them (the local CLI); results are plain dicts with the documented
field names, newest first, times as ISO 8601 strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collector.sessions.clickhouse.client import Store

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
MAX_LIMIT = 1000


def list_sessions(
    store: Store,
    tenant: str | None,
    *,
    client: str | None = None,
    user: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Sessions newest first (by last activity); ``tenant=None`` means every tenant."""
    where, params = _tenant_filter(tenant)
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
        "ORDER BY last_seen DESC, session_id LIMIT {limit:UInt32}"
    )
    return [_session(row) for row in store.query(sql, params)]


def get_session(store: Store, tenant: str | None, session_id: str) -> dict[str, Any] | None:
    where, params = _tenant_filter(tenant)
    where.append("session_id = {sid:String}")
    params["sid"] = session_id
    sql = f"SELECT {', '.join(SESSION_FIELDS)} FROM sessions {_where(where)} LIMIT 1"
    rows = store.query(sql, params)
    return _session(rows[0]) if rows else None


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


def _tenant_filter(tenant: str | None) -> tuple[list[str], dict[str, Any]]:
    if tenant is None:
        return [], {}
    return ["tenant = {tenant:String}"], {"tenant": tenant}


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
