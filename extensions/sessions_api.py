"""``sessions_api`` extension: sessions and prompts over HTTP, read from the store of a
``clickhouse`` exporter (``storage``).

- ``GET /api/v1/sessions?client=&user=&since=&until=&limit=``
- ``GET /api/v1/sessions/{id}``
- ``GET /api/v1/sessions/{id}/prompts``

On ``endpoint`` it needs an org key holding ``required_role`` (``sessions_read``), and a key
sees only its own org's sessions. An embedded store is also served on a unix socket inside
the store's folder (mode 0600: whoever may read the store's files may read it), without a
key and across tenants (``?tenant=`` filters); the CLI reads through it while a collector
holds the store.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import web
from pydantic import Field

from collector.auth import Authenticator, AuthError, authorization
from collector.component import (
    ComponentConfig,
    ComponentID,
    ComponentIDField,
    Factory,
    Host,
    Kind,
)
from collector.confighttp.server import serve
from collector.confmap.netaddr import Endpoint
from collector.sessions.clickhouse import ClickHouseSettings, Store, queries
from collector.sessions.clickhouse.schema import migrate

TYPE = "sessions_api"
log = structlog.get_logger(__name__)
_TENANT_KEY = web.AppKey("tenant_fixed", bool)


class SessionsApiConfig(ComponentConfig):
    endpoint: Endpoint = "127.0.0.1:4320"
    auth: ComponentIDField | None = None
    required_role: str = Field("sessions_read", min_length=1)
    storage: ComponentIDField = ComponentID("clickhouse")
    local_socket: bool = True

    def extension_refs(self) -> dict[str, ComponentID]:
        return {"auth": self.auth} if self.auth else {}

    def exporter_refs(self) -> dict[str, ComponentID]:
        return {"storage": self.storage}


def create(component_id: ComponentID, config: SessionsApiConfig) -> SessionsApi:
    return SessionsApi(component_id, config)


FACTORY = Factory(
    Kind.EXTENSION,
    TYPE,
    SessionsApiConfig,
    create,
    "serves sessions and prompts over HTTP (org keys with the sessions_read role)",
)


class SessionsApi:
    def __init__(self, component_id: ComponentID, config: SessionsApiConfig) -> None:
        self.id = component_id
        self.config = config
        self.store: Store | None = None
        self.authenticator: Authenticator | None = None
        self._runners: list[web.AppRunner] = []
        self.address: str | None = None
        self.socket: Path | None = None

    async def start(self, host: Host) -> None:
        settings = host.component_config(Kind.EXPORTER, self.config.storage)
        if not isinstance(settings, ClickHouseSettings):
            raise RuntimeError(
                f"{self.id}: storage {self.config.storage} is not a clickhouse exporter"
            )
        if self.config.auth is not None:
            ext = host.get_extension(self.config.auth)
            if not isinstance(ext, Authenticator):
                raise RuntimeError(f"{self.id}: extension {self.config.auth} cannot authenticate")
            self.authenticator = ext
        store = Store(settings)
        if settings.embedded:
            # One engine per process: open it now, beside the exporter. A server is opened
            # on first use instead, so a collector starts while its server is down.
            await store.call(store.open)
            if getattr(settings, "create_schema", True):
                await store.call(migrate, store, getattr(settings, "ttl", None) or None)
        self.store = store
        try:
            runner, self.address = await serve(
                self._app(tenant_fixed=True), self.config.endpoint, owner=str(self.id),
                shutdown_timeout=5,
            )  # fmt: skip
            self._runners.append(runner)
            if settings.embedded and self.config.local_socket:
                path = settings.local_socket
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                local = web.AppRunner(self._app(tenant_fixed=False), access_log=None,
                                      handle_signals=False, shutdown_timeout=5)  # fmt: skip
                await local.setup()
                self._runners.append(local)
                await web.UnixSite(local, str(path)).start()
                os.chmod(path, 0o600)
                self.socket = path
        except (OSError, RuntimeError) as exc:
            await self.shutdown()
            raise RuntimeError(
                str(exc)
                if isinstance(exc, RuntimeError)
                else f"{self.id}: cannot listen: {exc.strerror or exc}"
            ) from None
        log.info(
            "serving sessions",
            component=str(self.id),
            endpoint=self.address,
            socket=str(self.socket) if self.socket else None,
        )

    def _app(self, *, tenant_fixed: bool) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app[_TENANT_KEY] = tenant_fixed
        app.router.add_get("/api/v1/sessions", self._list_sessions)
        app.router.add_get("/api/v1/sessions/{id}", self._get_session)
        app.router.add_get("/api/v1/sessions/{id}/prompts", self._list_prompts)
        return app

    async def shutdown(self) -> None:
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()
        if self.socket is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket.unlink()
            self.socket = None
        store, self.store = self.store, None
        if store is not None:
            await store.call(store.close)

    # -- handlers ---------------------------------------------------------------------------

    def _tenant(self, request: web.Request) -> str | None:
        if not request.app[_TENANT_KEY]:
            return request.query.get("tenant") or None
        if self.authenticator is None:
            return request.query.get("tenant") or None
        principal = self.authenticator.authenticate(
            authorization(request.headers), self.config.required_role
        )
        return principal.org

    async def _list_sessions(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        q = request.query
        try:
            limit = int(q.get("limit", "100"))
            if not 1 <= limit <= queries.MAX_LIMIT:
                raise ValueError
        except ValueError:
            raise _BadRequest(
                f"limit must be a whole number from 1 to {queries.MAX_LIMIT}"
            ) from None
        since = _time(q.get("since"), "since")
        until = _time(q.get("until"), "until")
        rows = await self._query(
            queries.list_sessions, tenant, client=q.get("client") or None,
            user=q.get("user") or None, since=since, until=until, limit=limit,
        )  # fmt: skip
        return _json({"sessions": rows})

    async def _get_session(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        row = await self._query(queries.get_session, tenant, request.match_info["id"])
        if row is None:
            return _json({"error": "no such session"}, status=404)
        return _json(row)

    async def _list_prompts(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        session_id = request.match_info["id"]
        if await self._query(queries.get_session, tenant, session_id) is None:
            return _json({"error": "no such session"}, status=404)
        rows = await self._query(queries.list_prompts, tenant, session_id)
        return _json({"session_id": session_id, "prompts": rows})

    async def _query(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        store = self.store
        if store is None:
            raise web.HTTPServiceUnavailable()
        return await store.call(fn, store, *args, **kwargs)

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except AuthError as exc:
            return _json({"error": exc.reason}, status=exc.status)
        except _BadRequest as exc:
            return _json({"error": str(exc)}, status=400)
        except web.HTTPException as exc:
            return _json({"error": exc.reason}, status=exc.status)
        except Exception:
            log.exception("sessions query failed", component=str(self.id))
            resp = _json({"error": "the store is unavailable"}, status=503)
            resp.headers["Retry-After"] = "5"
            return resp


class _BadRequest(Exception):
    pass


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return queries.parse_time(value)
    except ValueError as exc:
        raise _BadRequest(f"{name}: {exc}") from None


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type="application/json")
