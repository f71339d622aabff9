"""Starting an aiohttp server on a configured ``host:port``, the same way for every
component that listens (receivers, extensions, the metrics endpoint).

A request the HTTP parser cannot read (a header line ending in a bare LF, a NUL in a value,
...) is answered ``400`` with a fixed text, and logged with the error's kind and the peer
only: aiohttp's own answer and log quote the offending bytes, which may be an
``Authorization`` header's key.

Connections are bounded before any request is read (:class:`ConnectionLimits`): a
connection whose request headers are not complete within ``header_timeout`` (from the
connection for its first request, from a next request's first bytes on a kept-alive one) is
closed, and a new connection beyond ``max_connections`` for the server, or beyond
``max_connections_per_address`` from one client address, is closed at once. Each is logged
and counted (``session_collector_http_connections_cut_total{server,reason}``).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from aiohttp.web_server import Server

from collector.component.process import reuse_port
from collector.confmap.netaddr import format_endpoint, parse_endpoint
from collector.telemetry import metrics


@dataclass(frozen=True)
class ConnectionLimits:
    """What a server allows a connection before its first request is read."""

    #: seconds for a request's headers to arrive complete
    header_timeout: float = 5.0
    #: connections open at once on the server
    max_connections: int = 2048
    #: connections open at once from one client address (raise it behind a proxy or NAT)
    max_connections_per_address: int = 256


async def serve(
    app: web.Application,
    endpoint: str,
    *,
    owner: str,
    ssl_context: ssl.SSLContext | None = None,
    limits: ConnectionLimits = ConnectionLimits(),
    **runner_kwargs: Any,
) -> tuple[web.AppRunner, str]:
    """Listen on ``endpoint``; the runner (``cleanup()`` stops it) and the bound address.
    A port that cannot be had is a ``RuntimeError`` naming ``owner`` and the endpoint."""
    runner_kwargs.setdefault("access_log", None)
    runner_kwargs.setdefault("handle_signals", False)
    runner = _Runner(app, owner, limits, **runner_kwargs)
    await runner.setup()
    host, port = parse_endpoint(endpoint)
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_port=reuse_port())
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise RuntimeError(f"{owner}: cannot listen on {endpoint}: {exc.strerror or exc}") from None
    bound = runner.addresses[0]
    return runner, format_endpoint(bound[0], bound[1])


log = structlog.get_logger(__name__)
MALFORMED = "malformed HTTP request"


class _QuietRequestHandler(RequestHandler):
    """aiohttp's connection handler, but its error answers and logs quote no request bytes,
    and the server's :class:`ConnectionLimits` hold before anything is read."""

    _address: str | None = None
    _header_timer: asyncio.TimerHandle | None = None
    _limits: ConnectionLimits = ConnectionLimits()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        server = self._manager
        assert isinstance(server, _QuietServer)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        limits = server.limits
        reason = None
        if len(server.connections) > limits.max_connections:
            reason = "server_limit"
        elif server.by_address.get(address, 0) >= limits.max_connections_per_address:
            reason = "address_limit"
        if reason is not None:
            server.cut(reason, address)
            transport.close()
            return
        self._address = address
        server.by_address[address] = server.by_address.get(address, 0) + 1
        self._limits = limits
        self._header_timer = self._loop.call_later(limits.header_timeout, self._headers_late, 0)

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._request_count > before:  # a request's headers are in
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
        elif self._header_timer is None and self._awaiting_request():
            # the first bytes of a next request on a kept-alive connection: its headers get
            # header_timeout too (a body arriving is not this: a request is being handled)
            self._header_timer = self._loop.call_later(
                self._limits.header_timeout, self._headers_late, self._request_count
            )

    def _awaiting_request(self) -> bool:
        waiter = self._waiter
        return waiter is not None and not waiter.done() and not self._force_close

    def connection_lost(self, exc: BaseException | None) -> None:
        server = self._manager
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if isinstance(server, _QuietServer) and self._address is not None:
            left = server.by_address.get(self._address, 1) - 1
            if left > 0:
                server.by_address[self._address] = left
            else:
                server.by_address.pop(self._address, None)
            self._address = None
        super().connection_lost(exc)

    def _headers_late(self, requests: int) -> None:
        self._header_timer = None
        server = self._manager
        if isinstance(server, _QuietServer) and self._request_count == requests:
            server.cut("header_timeout", self._address or "")
            self.force_close()
            if self.transport is not None:
                self.transport.close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> StreamResponse:
        if status >= 500:  # a fault of this program, not of the request: keep the trace
            log.error("request failed", status=status, remote=request.remote, exc_info=exc)
        else:
            log.info(
                "HTTP request refused before it was read",
                status=status,
                error=type(exc).__name__ if exc is not None else None,
                remote=request.remote,
            )
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        text = MALFORMED if status < 500 else "internal error"
        resp = web.Response(status=status, text=text)
        resp.force_close()
        return resp


class _QuietServer(Server):
    def __init__(self, *args: Any, owner: str, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.limits = limits
        #: connections open per client address
        self.by_address: dict[str, int] = {}

    def __call__(self) -> RequestHandler:
        return _QuietRequestHandler(self, loop=self._loop, **self._kwargs)

    def cut(self, reason: str, address: str) -> None:
        metrics.http_connections_cut.labels(self.owner, reason).inc()
        log.warning("connection closed", server=self.owner, reason=reason, remote=address)


class _Runner(web.AppRunner):
    def __init__(
        self, app: web.Application, owner: str, limits: ConnectionLimits, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self._owner = owner
        self._limits = limits

    async def _make_server(self) -> Server:
        made = await super()._make_server()
        return _QuietServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            owner=self._owner,
            limits=self._limits,
            **made._kwargs,
        )
