"""The benchmark's load generator speaks HTTP/1.1 to a real collector correctly, so that the
numbers in bench/README.md count requests the collector really accepted."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import RunningCollector

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import loadgen


def _target(collector: RunningCollector) -> tuple[str, int, str]:
    host, _, port = collector.url.removeprefix("http://").rpartition(":")
    return host, int(port), f"{collector.url}/v1/logs"


async def test_keep_alive_connection_posts_requests_the_collector_accepts(
    collector: RunningCollector, org_key: str
) -> None:
    """Every request on one keep-alive connection is answered 200 and its records arrive."""
    host, port, url = _target(collector)
    bodies = loadgen.body_pool(1, 3, 10, "proto", False, 4, 1, 0.0)
    conn = loadgen.HttpConnection(host, port)
    statuses = [await conn.post(r) for r in loadgen.http_requests(url, org_key, "proto", False,
                                                                  bodies) * 2]  # fmt: skip
    conn.close()
    assert statuses == [200] * 6
    assert sum(len(b.records) for b in collector.exporter().batches) == 60


async def test_connection_closed_by_the_collector_is_opened_again(
    collector: RunningCollector, org_key: str
) -> None:
    """A refused request (the collector closes the connection) leaves the next one working."""
    host, port, url = _target(collector)
    [body] = loadgen.body_pool(1, 1, 5, "json", True, 2, 1, 0.0)
    [refused] = loadgen.http_requests(url, "sck_wrong_key", "json", True, [body])
    [accepted] = loadgen.http_requests(url, org_key, "json", True, [body])
    conn = loadgen.HttpConnection(host, port)
    assert [await conn.post(refused), await conn.post(accepted)] == [401, 200]
    conn.close()
    assert sum(len(b.records) for b in collector.exporter().batches) == 5
