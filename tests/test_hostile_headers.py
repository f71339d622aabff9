"""Hostile header lines against both listening servers (the OTLP receiver and the sessions
API): a malformed line holding a key is refused with a fixed 400 that quotes nothing, no log
line holds the key, and two ``Authorization`` headers are refused rather than one chosen.
Real servers on loopback, raw bytes on a socket."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from collector.component import ComponentID
from tests.conftest import RunningCollector, StartCollector, storage_config

SERVERS = {
    "otlp": ("POST", "/v1/logs"),
    "sessions_api": ("GET", "/api/v1/sessions"),
}


@pytest.fixture
async def running(
    start_collector: StartCollector, keys_file: Path, store_endpoint: dict[str, Any]
) -> RunningCollector:
    """otlp and the sessions API, both behind the API keys."""
    return await start_collector(storage_config(keys_file, store_endpoint))


def address(running: RunningCollector, server: str) -> tuple[str, int]:
    if server == "otlp":
        hostport = running.url.removeprefix("http://")
    else:
        hostport = running.service.extensions[ComponentID("sessions_api")].address  # type: ignore[attr-defined]
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


async def exchange(host: str, port: int, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


def head(server: str, *lines: str, end: str = "\r\n") -> bytes:
    method, path = SERVERS[server]
    text = f"{method} {path} HTTP/1.1\r\nHost: collector\r\n"
    return (text + "".join(lines) + end + "\r\n").encode("latin-1")


MALFORMED = {
    # the Authorization line ends in a bare LF
    "bare LF": lambda key: ("Content-Length: 0\r\n", f"Authorization: Bearer {key}\n"),
    # a NUL inside the header's value
    "NUL": lambda key: (f"Authorization: Bearer {key[:8]}\x00{key[8:]}\r\n",),
}


@pytest.mark.parametrize("server", sorted(SERVERS))
@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_malformed_header_line_is_a_plain_400_that_never_echoes_the_key(
    running: RunningCollector,
    make_key: Any,
    server: str,
    case: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A header line the parser cannot read, holding an API key: the answer is 400 with a
    fixed text, and neither the answer nor any log line (structlog's or aiohttp's) holds
    any part of the key; the server goes on serving."""
    caplog.set_level(logging.DEBUG)
    key = make_key(roles=("mcp_watch_scan", "sessions_read"))
    secret = key.split("_", 1)[1][10:30]  # a stretch of the key's secret part
    host, port = address(running, server)
    lines = MALFORMED[case](key)
    answer = await exchange(host, port, head(server, *lines[:-1], end=lines[-1]))
    assert answer.startswith(b"HTTP/1.1 400") or answer.startswith(b"HTTP/1.0 400"), answer
    assert b"malformed HTTP request" in answer
    assert secret.encode() not in answer
    assert key[:12].encode() not in answer
    await asyncio.sleep(0.1)  # let the server's log line be written
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "refused before it was read" in logs
    assert secret not in logs
    good = await exchange(
        host,
        port,
        head(
            server, f"Authorization: Bearer {key}\r\n", "Content-Length: 0\r\nConnection: close\r\n"
        ),
    )
    assert not good.startswith(b"HTTP/1.1 400") and not good.startswith(b"HTTP/1.1 5"), good


@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_two_authorization_headers_are_refused_not_one_chosen(
    running: RunningCollector, make_key: Any, server: str
) -> None:
    """Two Authorization headers, even both valid: 400 naming the problem, not first-wins."""
    key = make_key(roles=("mcp_watch_scan", "sessions_read"))
    host, port = address(running, server)
    answer = await exchange(
        host,
        port,
        head(
            server,
            f"Authorization: Bearer {key}\r\n",
            f"Authorization: Bearer {key}\r\n",
            "Content-Length: 0\r\nConnection: close\r\n",
        ),
    )
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"more than one Authorization header" in answer
    assert key.encode() not in answer


# -- connections bounded before anything is read ----------------------------------------------


def cut(reason: str) -> float:
    from collector.telemetry import metrics

    return sum(
        sample.value
        for metric in metrics.REGISTRY.collect()
        for sample in metric.samples
        if sample.name == "session_collector_http_connections_cut_total"
        and sample.labels.get("reason") == reason
    )


def empty_export(key: str) -> bytes:
    """A whole, valid OTLP/JSON request with nothing in it, on a connection that closes."""
    body = b'{"resourceLogs":[]}'
    return (
        "POST /v1/logs HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server closes the connection within ``within`` seconds."""
    try:
        return await asyncio.wait_for(reader.read(), timeout=within) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


async def test_connections_whose_headers_never_end_are_closed_while_a_valid_client_is_served(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> None:
    """Forty half-sent requests (headers never finished, no key yet) are closed once
    header_timeout passes, counted as such, while a valid client gets its 200."""
    from tests.conftest import base_config

    running = await start_collector(base_config(keys_file, header_timeout="300ms"))
    host, port = address(running, "otlp")
    before = cut("header_timeout")
    slow = [await asyncio.open_connection(host, port) for _ in range(40)]
    for _, writer in slow:
        writer.write(b"POST /v1/logs HTTP/1.1\r\nHost: collector\r\nContent-Ty")
        await writer.drain()
    good = await exchange(host, port, empty_export(org_key))
    assert good.startswith(b"HTTP/1.1 200"), good[:100]
    closed = await asyncio.gather(*(closed_by_server(r, 5) for r, _ in slow))
    assert all(closed)
    assert cut("header_timeout") - before >= 40
    for _, writer in slow:
        writer.close()


async def test_a_kept_alive_connection_whose_next_headers_never_end_is_closed(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> None:
    """After a whole request answered 200 on a kept-alive connection, the next request's
    headers get header_timeout too: half-sent, the connection is closed and counted."""
    from tests.conftest import base_config

    running = await start_collector(base_config(keys_file, header_timeout="300ms"))
    host, port = address(running, "otlp")
    before = cut("header_timeout")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(empty_export(org_key).replace(b"Connection: close\r\n", b""))
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    await asyncio.wait_for(reader.readexactly(length), timeout=5)
    writer.write(b"POST /v1/logs HTTP/1.1\r\nHost: collector\r\nContent-Ty")
    await writer.drain()
    assert await closed_by_server(reader, 5)
    assert cut("header_timeout") - before == 1
    writer.close()


async def test_a_slow_request_body_is_not_cut_by_the_header_timeout(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> None:
    """header_timeout bounds headers only: a body sent in pieces over longer than it, its
    headers complete at once, is answered 200."""
    from tests.conftest import base_config

    running = await start_collector(base_config(keys_file, header_timeout="300ms"))
    host, port = address(running, "otlp")
    request = empty_export(org_key)
    head, body = request.split(b"\r\n\r\n", 1)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head + b"\r\n\r\n")
    for byte in body:
        await asyncio.sleep(0.05)  # about 1 s in all, over three header timeouts
        writer.write(bytes([byte]))
        await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=5)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    writer.close()


async def test_connections_beyond_the_per_address_limit_are_closed_at_once(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> None:
    """With max_connections_per_address 5, a sixth connection from the same address is
    closed before anything is read; once one of the five goes, a new one is served."""
    from tests.conftest import base_config

    running = await start_collector(base_config(keys_file, max_connections_per_address=5))
    host, port = address(running, "otlp")
    held = [await asyncio.open_connection(host, port) for _ in range(5)]
    await asyncio.sleep(0.1)
    reader, writer = await asyncio.open_connection(host, port)
    assert await closed_by_server(reader, 5)
    writer.close()
    held[0][1].close()
    await asyncio.sleep(0.2)
    answer = await exchange(host, port, empty_export(org_key))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    for _, w in held[1:]:
        w.close()
