"""Starting an aiohttp server on a configured ``host:port``, the same way for every
component that listens (receivers, extensions, the metrics endpoint)."""

from __future__ import annotations

import ssl
from typing import Any

from aiohttp import web

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
    runner = web.AppRunner(app, **runner_kwargs)
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
