"""``sessions_api`` extension: sessions and prompts over HTTP, read from the store of a
``clickhouse`` exporter (``storage``).

- ``GET /api/v1/sessions?client=&user=&since=&until=&q=&limit=&offset=``
- ``GET /api/v1/sessions/{id}``: the session, its metric figures and its ``traces``
- ``GET /api/v1/sessions/{id}/prompts``
- ``GET /api/v1/sessions/{id}/events``: the session's events in order (its timeline)
- ``GET /api/v1/overview?since=&until=&by=client|model|user&client=&user=``: cost and tokens
  per time bucket and group, the top users and tools, the clients present
- the sessions console at ``/`` (``console: true``, :mod:`extensions.sessions_console`)

On ``endpoint`` it needs an org key holding ``required_role`` (``sessions_read``), sent as
``Authorization: Bearer`` or held by a console session's cookie, and a key sees only its
own org's sessions. An embedded store is also served on a unix socket inside
the store's folder (mode 0600: whoever may read the store's files may read it), without a
key and across tenants (``?tenant=`` filters); the CLI reads through it while a collector
holds the store.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
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
from collector.confmap.units import Duration
from collector.sessions.clickhouse import ClickHouseSettings, Store, queries
from collector.sessions.clickhouse.schema import migrate
from extensions import sessions_console as console

TYPE = "sessions_api"
log = structlog.get_logger(__name__)
_TENANT_KEY = web.AppKey("tenant_fixed", bool)


class SessionsApiConfig(ComponentConfig):
    endpoint: Endpoint = "127.0.0.1:4320"
    auth: ComponentIDField | None = None
    required_role: str = Field("sessions_read", min_length=1)
    storage: ComponentIDField = ComponentID("clickhouse")
    local_socket: bool = True
    #: serve the sessions console at ``/`` (needs ``auth``)
    console: bool = True
    #: how long a console sign-in lasts
    console_session_ttl: Duration = Field(timedelta(hours=12), gt=timedelta(0))

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
        self.console_sessions = console.ConsoleSessions(config.console_session_ttl.total_seconds())

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
        app.router.add_get("/api/v1/sessions/{id}/events", self._list_events)
        app.router.add_get("/api/v1/overview", self._overview)
        if tenant_fixed and self.config.console:
            app.router.add_get("/", self._page)
            app.router.add_get("/sessions/{id}", self._page)
            app.router.add_get("/console/{name}", self._asset)
            app.router.add_post("/console/sign-in", self._sign_in)
            app.router.add_post("/console/sign-out", self._sign_out)
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
        header = authorization(request.headers)
        token = request.cookies.get(console.COOKIE) if header is None else None
        if token is not None:
            header = self.console_sessions.authorization(token)
            if header is None:
                raise AuthError(401, "signed out: sign in again", cause="console")
        try:
            principal = self.authenticator.authenticate(header, self.config.required_role)
        except AuthError:
            self.console_sessions.close(token)  # a key revoked since: its sessions end
            raise
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
        offset = _whole(q.get("offset", "0"), "offset")
        since = _time(q.get("since"), "since")
        until = _time(q.get("until"), "until")
        rows = await self._query(
            queries.list_sessions, tenant, client=q.get("client") or None,
            user=q.get("user") or None, since=since, until=until,
            search=q.get("q") or None, limit=limit, offset=offset,
        )  # fmt: skip
        return _json({"sessions": rows})

    async def _get_session(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        row = await self._query(queries.get_session_detail, tenant, request.match_info["id"])
        if row is None:
            return _json({"error": "no such session"}, status=404)
        return _json(row)

    async def _list_prompts(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        session_id = request.match_info["id"]
        if await self._query(queries.get_session, tenant, session_id, figures=False) is None:
            return _json({"error": "no such session"}, status=404)
        rows = await self._query(queries.list_prompts, tenant, session_id)
        return _json({"session_id": session_id, "prompts": rows})

    async def _list_events(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        session_id = request.match_info["id"]
        if await self._query(queries.get_session, tenant, session_id, figures=False) is None:
            return _json({"error": "no such session"}, status=404)
        rows = await self._query(queries.session_events, tenant, session_id)
        return _json({"session_id": session_id, "events": rows})

    async def _overview(self, request: web.Request) -> web.Response:
        tenant = self._tenant(request)
        q = request.query
        by = q.get("by", "client")
        if by not in queries.OVERVIEW_GROUPS:
            raise _BadRequest(f"by must be one of {', '.join(queries.OVERVIEW_GROUPS)}")
        since = _time(q.get("since") or "24h", "since")
        assert since is not None
        doc = await self._query(
            queries.overview, tenant, since=since, until=_time(q.get("until"), "until"),
            by=by, client=q.get("client") or None, user=q.get("user") or None,
        )  # fmt: skip
        doc["clients"] = await self._query(queries.list_clients, tenant)
        return _json(doc)

    # -- the console ------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.Response:
        return console.page()

    async def _asset(self, request: web.Request) -> web.Response:
        return console.asset(request.match_info["name"])

    async def _sign_in(self, request: web.Request) -> web.Response:
        if self.authenticator is None:
            return _json({"error": "the console needs an auth extension"}, status=404)
        try:
            body = await request.json() if request.content_length else None
        except ValueError:
            body = None
        key = body.get("key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key.strip() or len(key) > 1024:
            return _json({"error": "enter an API key"}, status=400)
        header = f"Bearer {key.strip()}"
        try:
            principal = self.authenticator.authenticate(header, self.config.required_role)
        except AuthError as exc:
            reason = "invalid API key" if exc.status == 401 else "this key cannot read sessions"
            log.info("console sign-in refused", component=str(self.id), cause=exc.cause)
            return _json({"error": reason}, status=exc.status)
        token = self.console_sessions.open(header)
        resp = _json({"org": principal.org})
        console.set_cookie(resp, token, ttl=self.console_sessions.ttl, secure=request.secure)
        log.info("console signed in", component=str(self.id), key_id=principal.key_id)
        return resp

    async def _sign_out(self, request: web.Request) -> web.Response:
        self.console_sessions.close(request.cookies.get(console.COOKIE))
        resp = _json({"signed_out": True})
        console.clear_cookie(resp, secure=request.secure)
        return resp

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


def _whole(value: str, name: str) -> int:
    try:
        number = int(value)
        if number < 0:
            raise ValueError
    except ValueError:
        raise _BadRequest(f"{name} must be a whole number") from None
    return number


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type="application/json")
