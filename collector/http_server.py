"""Starting an aiohttp server on a configured ``host:port``, the same way for every
component that listens (receivers, extensions, the metrics endpoint).

A request the HTTP parser cannot read (a header line ending in a bare LF, a NUL in a value,
...) is answered ``400`` with a fixed text, and logged with the error's kind and the peer
only: aiohttp's own answer and log quote the offending bytes, which may be an
``Authorization`` header's key.
"""

from __future__ import annotations

import ssl
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from aiohttp.web_server import Server

from collector.netaddr import format_endpoint, parse_endpoint
from collector.workers import reuse_port


async def serve(
    app: web.Application,
    endpoint: str,
    *,
    owner: str,
    ssl_context: ssl.SSLContext | None = None,
    **runner_kwargs: Any,
) -> tuple[web.AppRunner, str]:
    """Listen on ``endpoint``; the runner (``cleanup()`` stops it) and the bound address.
    A port that cannot be had is a ``RuntimeError`` naming ``owner`` and the endpoint."""
    runner_kwargs.setdefault("access_log", None)
    runner_kwargs.setdefault("handle_signals", False)
    runner = _Runner(app, **runner_kwargs)
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
    """aiohttp's connection handler, but its error answers and logs quote no request bytes."""

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
    def __call__(self) -> RequestHandler:
        return _QuietRequestHandler(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self) -> Server:
        made = await super()._make_server()
        return _QuietServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **made._kwargs,
        )
