"""``session-collector sessions`` and ``prompts``: read the store that the config's
``clickhouse`` exporter names. An embedded store admits one process at a time, so when a
running collector holds it, the CLI reads through that collector's local socket."""

from __future__ import annotations

import http.client
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

import orjson

from collector.component import Kind
from collector.service.config import Config
from collector.sessions.clickhouse import ClickHouseSettings, Store, StoreLocked, queries
from collector.sessions.clickhouse.schema import current_version


class CLIError(Exception):
    pass


def storage_of(config: Config) -> ClickHouseSettings:
    for cid, cfg in config.components[Kind.EXPORTER].items():
        if cid.type == "clickhouse" and isinstance(cfg, ClickHouseSettings):
            return cfg
    raise CLIError("the configuration has no clickhouse exporter to read sessions from")


def read(
    settings: ClickHouseSettings,
    direct: Callable[[Store], Any],
    path: str,
    params: dict[str, str],
) -> Any:
    """Run ``direct`` on the store, or GET ``path`` on the running collector's socket."""
    store = Store(settings)
    try:
        store.open()
    except StoreLocked:
        return _through_socket(settings, path, params)
    try:
        if current_version(store) < 2:
            return None
        return direct(store)
    finally:
        store.close()


def _through_socket(settings: ClickHouseSettings, path: str, params: dict[str, str]) -> Any:
    sock_path = settings.local_socket
    if not sock_path.exists():
        raise CLIError(
            f"the store {settings.chdb_path} is in use by another process that does not "
            "serve sessions_api on its local socket; stop it or enable sessions_api"
        )
    conn = _UnixHTTPConnection(str(sock_path))
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
    try:
        conn.request("GET", f"{path}?{query}" if query else path)
        resp = conn.getresponse()
        body = resp.read()
    except OSError as exc:
        raise CLIError(f"cannot reach the running collector at {sock_path}: {exc}") from None
    finally:
        conn.close()
    if resp.status == 404:
        return None
    doc = orjson.loads(body)
    if resp.status != 200:
        raise CLIError(f"the running collector answered {resp.status}: {doc.get('error')}")
    return doc


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self._path)
        self.sock = sock


def sessions(
    config: Config,
    *,
    client: str | None,
    tenant: str | None,
    since: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    settings = storage_of(config)
    since_time = queries.parse_time(since) if since else None
    doc = read(
        settings,
        lambda store: {"sessions": queries.list_sessions(
            store, tenant, client=client, since=since_time, limit=limit)},
        "/api/v1/sessions",
        {"client": client or "", "tenant": tenant or "",
         "since": since_time.isoformat() if since_time else "", "limit": str(limit)},
    )  # fmt: skip
    return list(doc["sessions"]) if doc else []


def prompts(config: Config, session_id: str, tenant: str | None) -> list[dict[str, Any]] | None:
    settings = storage_of(config)
    path = f"/api/v1/sessions/{urllib.parse.quote(session_id, safe='')}/prompts"

    def direct(store: Store) -> dict[str, Any] | None:
        if queries.get_session(store, tenant, session_id, figures=False) is None:
            return None
        return {"prompts": queries.list_prompts(store, tenant, session_id)}

    doc = read(settings, direct, path, {"tenant": tenant or ""})
    return None if doc is None else list(doc["prompts"])


def sessions_table(rows: list[dict[str, Any]]) -> str:
    head = ("SESSION", "CLIENT", "USER", "LAST SEEN", "PROMPTS", "TOOLS", "API", "ERRORS",
            "TOKENS IN", "TOKENS OUT", "COST USD", "LINES +/-", "ACTIVE S", "TITLE")  # fmt: skip
    body = [
        (r["session_id"], r["client"], r["user_email"] or r["user_id"][:12], r["last_seen"],
         r["prompts"], r["tool_calls"], r["api_requests"], r["api_errors"], r["input_tokens"],
         r["output_tokens"], f"{r['cost_usd']:.4f}",
         f"+{r.get('lines_added', 0)}/-{r.get('lines_removed', 0)}",
         f"{r.get('active_time_s', 0):.1f}", r["title"][:40])
        for r in rows
    ]  # fmt: skip
    return _table(head, body)


def prompts_table(rows: list[dict[str, Any]]) -> str:
    head = ("PROMPT", "TIME", "TOOLS", "API", "ERRORS", "TOKENS IN", "TOKENS OUT", "COST USD",
            "DURATION MS", "TEXT")  # fmt: skip
    body = [
        (r["prompt_id"], r["time"], r["tool_calls"], r["api_requests"], r["api_errors"],
         r["input_tokens"], r["output_tokens"], f"{r['cost_usd']:.4f}", r["duration_ms"],
         (r["text"] or "")[:50])
        for r in rows
    ]  # fmt: skip
    return _table(head, body)


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    cells = [head, *[tuple(str(c) for c in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
