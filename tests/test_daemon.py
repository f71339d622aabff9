"""The daemon as users run it: ``session-collector run`` in its own process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import CLI

LOGS = "/v1/logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_key(keys_file: Path, *extra: str) -> dict[str, object]:
    out = subprocess.run(
        [CLI, "keys", "create", "--keys-file", str(keys_file), "--org", "acme",
         "--name", "laptop", "--json", *extra],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    doc = orjson.loads(out.stdout)
    assert isinstance(doc, dict)
    return doc


def spawn(args: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a collector process whose stderr goes to ``log``: a pipe nobody reads would
    fill up and stall the collector the moment it logs a lot."""
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=out, **kwargs)


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the collector exited with {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"collector did not listen on {port} within {timeout}s")


@pytest.fixture
def daemon(
    tmp_path: Path, clean_env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``session-collector run`` on the built-in default config, in an empty folder."""
    port = free_port()
    proc = spawn(
        [CLI, "run", "--set", f"receivers.otlp.endpoint=127.0.0.1:{port}",
         "--set", "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:0",
         "--set", f"extensions.sessions_api.endpoint=127.0.0.1:{free_port()}",
         "--set", "service.telemetry.metrics.address=127.0.0.1:0",
         "--set", "extensions.health_check.endpoint=127.0.0.1:0"],
        tmp_path / "collector.log", cwd=tmp_path, env=clean_env,
    )  # fmt: skip
    try:
        wait_listening(port, proc)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


def stored_sessions(folder: Path, env: dict[str, str]) -> list[dict[str, object]]:
    """What ``session-collector sessions --json`` prints, run in ``folder``."""
    out = subprocess.run([CLI, "sessions", "--json"], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = orjson.loads(out.stdout)
    assert isinstance(rows, list)
    return rows


async def test_default_config_stores_the_sample_as_a_session(
    daemon: tuple[subprocess.Popen[bytes], int],
    tmp_path: Path,
    client: httpx.AsyncClient,
    sample_json: bytes,
    clean_env: dict[str, str],
) -> None:
    """With no --config, a key made in ./data/keys.json works, and the sample becomes one
    session in the embedded store under ./data, readable with the CLI while it runs."""
    _, port = daemon
    created = await asyncio.to_thread(create_key, tmp_path / "data" / "keys.json")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {created['key']}"}
    deadline = time.monotonic() + 10
    while True:  # the running daemon notices the new key within its reload interval
        resp = await client.post(f"http://127.0.0.1:{port}{LOGS}", content=sample_json,
                                 headers=headers)  # fmt: skip
        if resp.status_code != 401 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert resp.status_code == 200
    (session,) = await asyncio.to_thread(stored_sessions, tmp_path, clean_env)
    assert (session["prompts"], session["api_requests"], session["tool_calls"]) == (1, 2, 1)
    assert (session["input_tokens"], session["cost_usd"]) == (2400, 0.01875)
    assert (tmp_path / "data" / "clickhouse").is_dir()


async def test_revoked_key_stops_working_without_restart(
    daemon: tuple[subprocess.Popen[bytes], int],
    tmp_path: Path,
    client: httpx.AsyncClient,
) -> None:
    """``keys revoke`` on the running daemon's keys file turns the key's 200 into 401."""
    _, port = daemon
    keys_file = tmp_path / "data" / "keys.json"
    created = await asyncio.to_thread(create_key, keys_file)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {created['key']}"}
    url = f"http://127.0.0.1:{port}{LOGS}"

    async def status_becomes(expected: int) -> int:
        deadline = time.monotonic() + 10
        while True:
            status = (await client.post(url, content=b"{}", headers=headers)).status_code
            if status == expected or time.monotonic() > deadline:
                return status
            await asyncio.sleep(0.1)

    assert await status_becomes(200) == 200
    revoke = [CLI, "keys", "revoke", "--keys-file", str(keys_file), str(created["id"])]
    await asyncio.to_thread(subprocess.run, revoke, check=True, capture_output=True)
    assert await status_becomes(401) == 401


def test_sigterm_finishes_in_flight_requests_then_exits_0(
    daemon: tuple[subprocess.Popen[bytes], int],
    tmp_path: Path,
    sample_json: bytes,
    clean_env: dict[str, str],
) -> None:
    """A request whose body is still arriving when SIGTERM comes is completed and answered
    200, its records are stored, new connections are refused, and the exit code is 0."""
    proc, port = daemon
    key = create_key(tmp_path / "data" / "keys.json")["key"]
    time.sleep(1.5)  # > the default reload interval: the daemon now knows the key
    head = (
        f"POST {LOGS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(sample_json)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + sample_json[:100])
        time.sleep(0.3)  # the handler is now waiting for the rest of the body
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(OSError):  # the listening socket is closed
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sock.sendall(sample_json[100:])
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert proc.wait(timeout=60) == 0
    (session,) = stored_sessions(tmp_path, clean_env)
    assert session["api_requests"] == 2


def test_sigint_stops_an_idle_collector_with_exit_0(
    daemon: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    """Ctrl-C stops the collector cleanly."""
    proc, _ = daemon
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    assert b"collector stopped" in (tmp_path / "collector.log").read_bytes()


def test_run_with_an_invalid_config_exits_2_naming_the_key(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """A bad config stops ``run`` before anything starts, with the problem on stderr."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "receivers:\n  otlp:\n    endpont: 127.0.0.1:4318\nexporters:\n  debug:\n"
        "service:\n  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [debug]\n"
    )
    proc = subprocess.run([CLI, "run", "--config", str(bad)], capture_output=True, text=True,
                          env=clean_env, timeout=30)  # fmt: skip
    assert proc.returncode == 2
    assert f"{bad}: receivers.otlp.endpont: unknown key" in proc.stderr


def test_run_reports_a_port_in_use_and_exits_1(tmp_path: Path, clean_env: dict[str, str]) -> None:
    """A receiver that cannot listen is a clear error, not a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [CLI, "run", "--set", f"receivers.otlp.endpoint=127.0.0.1:{port}",
         "--set", "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:0",
             "--set", f"extensions.sessions_api.endpoint=127.0.0.1:{free_port()}",
         "--set", "service.telemetry.metrics.address=127.0.0.1:0",
         "--set", "extensions.health_check.endpoint=127.0.0.1:0"],
            cwd=tmp_path, capture_output=True, text=True, env=clean_env, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert os.path.isdir(tmp_path)


def test_json_log_encoding_writes_one_json_object_per_line(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """``service.telemetry.logs.encoding: json`` makes every log line a JSON object."""
    port = free_port()
    proc = spawn(
        [CLI, "run", "--set", f"receivers.otlp.endpoint=127.0.0.1:{port}",
         "--set", "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:0",
         "--set", "service.telemetry.logs.encoding=json",
         "--set", f"extensions.sessions_api.endpoint=127.0.0.1:{free_port()}",
         "--set", "service.telemetry.metrics.address=127.0.0.1:0",
         "--set", "extensions.health_check.endpoint=127.0.0.1:0"],
        tmp_path / "collector.log", cwd=tmp_path, env=clean_env,
    )  # fmt: skip
    try:
        wait_listening(port, proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = (tmp_path / "collector.log").read_bytes().splitlines()
    events = [orjson.loads(line)["event"] for line in lines]
    assert "collector started" in events and "collector stopped" in events


def test_sigterm_ends_within_a_bounded_time_when_the_downstream_is_gone(
    tmp_path: Path, clean_env: dict[str, str], sample_json: bytes
) -> None:
    """With Kafka unreachable, no disk queue and retries forever, a request is in flight
    when SIGTERM comes: the collector still exits 0 in bounded time, and the request was
    not acknowledged with 200."""
    key = create_key(tmp_path / "keys.json")["key"]
    port = free_port()
    config = tmp_path / "edge.yaml"
    config.write_text(f"""
extensions:
  apikeys: {{keys_file: {tmp_path}/keys.json}}
receivers:
  otlp: {{endpoint: "127.0.0.1:{port}", auth: apikeys, shutdown_timeout: 1s}}
processors:
  batch: {{timeout: 10ms}}
exporters:
  kafka:
    brokers: ["127.0.0.1:9"]
    timeout: 500ms
    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0s}}
service:
  telemetry: {{metrics: {{level: none}}}}
  extensions: [apikeys]
  pipelines:
    logs: {{receivers: [otlp], processors: [batch], exporters: [kafka]}}
""")
    proc = spawn([CLI, "run", "--config", str(config)], tmp_path / "log", env=clean_env)
    try:
        wait_listening(port, proc, 60)
        head = (
            f"POST {LOGS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {key}\r\nContent-Length: {len(sample_json)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
            sock.sendall(head + sample_json)
            time.sleep(1.5)  # the request is now retrying against the missing broker
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
            elapsed = time.monotonic() - started
            answer = sock.recv(65536)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    assert elapsed < 90
    assert not answer.startswith(b"HTTP/1.1 200")
