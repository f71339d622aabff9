"""``session-collector sessions`` and ``prompts`` read the store the config names, with or
without a collector running on it."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.conftest import CLI
from tests.test_daemon import create_key, free_port, spawn, wait_listening

SESSION = "1ddae8b2-80dd-4b49-a5a9-be58ef748593"


def config_file(tmp_path: Path, port: int, api_port: int) -> Path:
    path = tmp_path / "collector.yaml"
    path.write_text(f"""
extensions:
  apikeys: {{keys_file: {tmp_path}/keys.json, reload_interval: 50ms}}
  sessions_api: {{endpoint: "127.0.0.1:{api_port}", auth: apikeys}}
receivers:
  otlp: {{endpoint: "127.0.0.1:{port}", auth: apikeys}}
processors:
  cowork: {{}}
  batch: {{timeout: 20ms}}
exporters:
  clickhouse: {{endpoint: "chdb://{tmp_path}/store"}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:0"}}}}
  extensions: [apikeys, sessions_api]
  pipelines:
    logs: {{receivers: [otlp], processors: [cowork, batch], exporters: [clickhouse]}}
""")
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def stored(tmp_path: Path, sample_json: bytes) -> tuple[Path, subprocess.Popen[bytes]]:
    """A running collector that has stored the sample; yields its config and process."""
    import httpx

    port, api_port = free_port(), free_port()
    config = config_file(tmp_path, port, api_port)
    key = create_key(tmp_path / "keys.json")["key"]
    proc = spawn([CLI, "run", "--config", str(config)], tmp_path / "collector.log")
    wait_listening(port, proc, timeout=60)
    resp = httpx.post(
        f"http://127.0.0.1:{port}/v1/logs", content=sample_json,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        timeout=30,
    )  # fmt: skip
    assert resp.status_code == 200
    return config, proc


def test_sessions_reads_through_a_running_collector(
    stored: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    """While the collector holds the embedded store, the CLI reads through its socket."""
    config, proc = stored
    try:
        out = cli("sessions", "--config", str(config), "--json")
        assert out.returncode == 0, out.stderr
        assert out.stderr == ""  # no engine noise from probing a store that is in use
        (session,) = orjson.loads(out.stdout)
        assert (session["session_id"], session["input_tokens"]) == (SESSION, 2400)
        out = cli("prompts", SESSION, "--config", str(config), "--json")
        assert out.returncode == 0, out.stderr
        assert orjson.loads(out.stdout)[0]["text"] == "list the files here"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_sessions_reads_the_store_directly_when_nothing_runs(
    stored: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    """After the collector stopped, the CLI opens the store itself and prints a table."""
    config, proc = stored
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    out = cli("sessions", "--config", str(config))
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()
    assert header.split()[:3] == ["SESSION", "CLIENT", "USER"]
    assert SESSION in row and "Claude Code" in row and "2400" in row and "0.0187" in row
    out = cli("sessions", "--config", str(config), "--tenant", "globex", "--json")
    assert orjson.loads(out.stdout) == []
    out = cli("prompts", "no-such-session", "--config", str(config))
    assert out.returncode == 1
    assert "no-such-session" in out.stderr
