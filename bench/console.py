"""How fast the sessions console's requests answer on a store of many sessions.

The built-in default collector runs in this process (chDB behind the write-ahead queue, in a
fresh data folder); the load generator's realistic Claude Code sessions are sent to it
(``--sessions`` sessions, about 20 records each, in requests of 200 records touching 20
sessions each); once stored, each request the console makes is timed ``--repeat`` times
over loopback with a reader's key: the page, the sessions list (as first opened, filtered
by client, searched), the overview (24 hours, 30 days), a session and its events.

    .venv/bin/python bench/console.py --sessions 10000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import loadgen
from embedded import start_default

from collector.component import ComponentID


async def main(sessions: int, repeat: int) -> None:
    service, (ingest, reader) = await start_default("mcp_watch_scan", "sessions_read")
    try:
        otlp = f"http://{service.receivers[ComponentID('otlp')].address}/v1/logs"  # type: ignore[attr-defined]
        api = f"http://{service.extensions[ComponentID('sessions_api')].address}"  # type: ignore[attr-defined]
        per_body, touched = 200, 20
        bodies = loadgen.body_pool(7, sessions * 20 // per_body, per_body, "proto", False,
                                   sessions, touched, 0.01)  # fmt: skip
        start = time.monotonic()
        headers = {"Authorization": f"Bearer {ingest}", "Content-Type": "application/x-protobuf"}
        async with httpx.AsyncClient(timeout=60) as client:
            queue = list(bodies)

            async def send() -> None:
                while queue:
                    resp = await client.post(otlp, content=queue.pop(), headers=headers)
                    assert resp.status_code == 200, resp.text

            await asyncio.gather(*(send() for _ in range(8)))
        exporter = service.exporters[ComponentID("clickhouse")]
        while exporter.sender.queued_batches:  # type: ignore[attr-defined]  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        store = exporter.store  # type: ignore[attr-defined]
        (row,) = await store.call(store.query, "SELECT uniqExact(SessionId) AS s, count() AS "
                                  "r FROM otel_logs")  # fmt: skip
        print(f"stored {row['s']:,} sessions, {row['r']:,} records in "
              f"{time.monotonic() - start:.1f} s")  # fmt: skip
        auth = {"Authorization": f"Bearer {reader}"}
        async with httpx.AsyncClient(timeout=60, headers=auth) as client:
            first = (await client.get(api + "/api/v1/sessions?since=24h&limit=51")).json()
            sid = first["sessions"][0]["session_id"]
            client_name = first["sessions"][0]["client"]
            word = (first["sessions"][0]["title"] or "the").split()[0]
            requests = {
                "page /": "/",
                "list, as first opened": "/api/v1/sessions?since=24h&limit=51&offset=0",
                "list, page 20": "/api/v1/sessions?since=24h&limit=51&offset=950",
                "list, by client": f"/api/v1/sessions?since=24h&limit=51&client={client_name}",
                "list, searched": f"/api/v1/sessions?since=24h&limit=51&q={word}",
                "overview, 24 hours": "/api/v1/overview?since=24h&by=client",
                "overview, 30 days by user": "/api/v1/overview?since=720h&by=user",
                "session": f"/api/v1/sessions/{sid}",
                "session events": f"/api/v1/sessions/{sid}/events",
            }
            print("\n| request | median ms | p95 ms | max ms |\n|---|---:|---:|---:|")
            for name, path in requests.items():
                times = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    resp = await client.get(api + path)
                    times.append((time.perf_counter() - t) * 1000)
                    assert resp.status_code == 200, (path, resp.text[:200])
                times.sort()
                p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
                print(f"| {name} | {statistics.median(times):.1f} | {p95:.1f} | "
                      f"{times[-1]:.1f} |")  # fmt: skip
    finally:
        await service.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.repeat))
