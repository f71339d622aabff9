"""``run --workers N``: several processes behind one port."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import httpx

from tests.conftest import CLI, read_topic
from tests.test_daemon import create_key, free_port, spawn, wait_listening


def edge_yaml(tmp_path: Path, port: int, metrics_port: int, bootstrap: str, topic: str) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(f"""
extensions:
  apikeys: {{keys_file: {tmp_path}/keys.json, reload_interval: 50ms}}
receivers:
  otlp: {{endpoint: "127.0.0.1:{port}", auth: apikeys}}
processors:
  cowork: {{}}
exporters:
  kafka: {{brokers: ["{bootstrap}"], topic: {topic}, sending_queue: {{storage: {tmp_path}/q}}}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics_port}"}}}}
  extensions: [apikeys]
  pipelines:
    logs: {{receivers: [otlp], processors: [cowork], exporters: [kafka]}}
""")
    return path


async def test_workers_share_the_port_and_their_metrics_add_up(
    tmp_path: Path, kafka_bootstrap: str, topic: str, sample_json: bytes
) -> None:
    """Two workers answer on one port; every record reaches Kafka; /metrics sums both;
    SIGTERM stops them all with exit 0."""
    key = create_key(tmp_path / "keys.json")["key"]
    port, metrics_port = free_port(), free_port()
    config = edge_yaml(tmp_path, port, metrics_port, kafka_bootstrap, topic)
    proc = spawn([CLI, "run", "--workers", "2", "--config", str(config)], tmp_path / "log")
    try:
        await asyncio.to_thread(wait_listening, port, proc, 60)
        await asyncio.sleep(2)  # both workers up
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        statuses = []
        for _ in range(20):  # a new connection each time, so the kernel spreads them
            async with httpx.AsyncClient(timeout=30) as client:
                resp = await client.post(f"http://127.0.0.1:{port}/v1/logs", content=sample_json,
                                         headers=headers)  # fmt: skip
                statuses.append(resp.status_code)
        assert statuses == [200] * 20
        async with httpx.AsyncClient(timeout=30) as client:
            text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        accepted = [line for line in text.splitlines()
                    if line.startswith("otelcol_receiver_accepted_log_records_total{")]  # fmt: skip
        assert sum(float(line.rsplit(" ", 1)[1]) for line in accepted) == 120
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 60)
    assert code == 0
    messages = await read_topic(kafka_bootstrap, topic, 20)
    assert len(messages) == 20
    assert len(list((tmp_path / "q").glob("kafka_default.w*.sqlite"))) == 2


def test_workers_refuse_an_embedded_store(tmp_path: Path) -> None:
    """An embedded chDB store admits one process: --workers 2 says so and exits 2."""
    out = subprocess.run([CLI, "run", "--workers", "2"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2
    assert "admits one process" in out.stderr
