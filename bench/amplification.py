"""What one hostile request costs the built-in default collector: time and peak memory for a
request of many tiny values, from the HTTP answer and through storage.

The collector runs in this process as ``session-collector run`` with no config would
(otlp -> cowork -> redaction -> batch -> clickhouse in chDB behind its write-ahead queue),
in a fresh data folder. One zstd-compressed request is sent, and the script waits until the
queue has handed it to ClickHouse. Shapes, each of ``--values`` items:

- ``array``: one record whose body is an array of empty values;
- ``kvlist``: one record whose body is a key-value list of empty entries;
- ``attrs``: one record of that many attributes of distinct keys and one-letter values.

Printed: the request's decompressed size, the answer and its time, the peak RSS rise at the
answer and after storage (``ru_maxrss``: chDB's memory is this process's), the rows stored.

    .venv/bin/python bench/amplification.py --shape array --values 1999000
    .venv/bin/python bench/amplification.py --shape attrs --values 1400000 --encoding proto
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import zstandard
from embedded import start_default

from collector.component import ComponentID

TIME = (1_700_000_000_000_000_000).to_bytes(8, "little")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def request_proto(shape: str, n: int) -> bytes:
    if shape == "attrs":
        record = b"".join(
            _field(0x32, _field(0x0A, b"%x" % i) + _field(0x12, _field(0x0A, b"v")))
            for i in range(n)
        )
    else:
        container = 0x2A if shape == "array" else 0x32  # AnyValue.array_value / kvlist_value
        record = _field(0x2A, _field(container, b"\x0a\x00" * n))  # LogRecord.body
    record += b"\x09" + TIME
    return _field(0x0A, _field(0x12, _field(0x12, record)))


def request_json(shape: str, n: int) -> bytes:
    if shape == "attrs":
        fields = (
            b'"attributes":['
            + b",".join(b'{"key":"%x","value":{"stringValue":"v"}}' % i for i in range(n))
            + b"]"
        )
    else:
        kind = b"arrayValue" if shape == "array" else b"kvlistValue"
        fields = b'"body":{"' + kind + b'":{"values":[' + b",".join([b"{}"] * n) + b"]}}"
    record = b'{"timeUnixNano":"1700000000000000000",' + fields + b"}"
    return b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[' + record + b"]}]}]}"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(shape: str, values: int, encoding: str) -> None:
    service, (key,) = await start_default("mcp_watch_scan")
    try:
        url = f"http://{service.receivers[ComponentID('otlp')].address}/v1/logs"  # type: ignore[attr-defined]
        exporter = service.exporters[ComponentID("clickhouse")]
        raw = request_proto(shape, values) if encoding == "proto" else request_json(shape, values)
        media = "application/x-protobuf" if encoding == "proto" else "application/json"
        body = zstandard.ZstdCompressor().compress(raw)
        print(f"{shape} of {values:,} ({encoding}): {len(raw) / 2**20:.1f} MiB decompressed, "
              f"{len(body) / 1024:.1f} KiB sent")  # fmt: skip
        before, start = peak_mib(), time.monotonic()
        async with httpx.AsyncClient(timeout=300) as client:
            answer = await client.post(url, content=body, headers={
                "Authorization": f"Bearer {key}", "Content-Type": media,
                "Content-Encoding": "zstd"})  # fmt: skip
        took, rise = time.monotonic() - start, peak_mib() - before
        print(f"answer {answer.status_code} {answer.text[:80]!r} in {took:.2f} s, "
              f"peak RSS +{rise:.0f} MiB")  # fmt: skip
        sender = exporter.sender  # type: ignore[attr-defined]
        while sender.queued_batches and time.monotonic() - start < 300:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        store = exporter.store  # type: ignore[attr-defined]
        (row,) = await store.call(store.query, "SELECT count() AS c FROM otel_logs")
        print(f"stored {row['c']} rows in {time.monotonic() - start:.2f} s, "
              f"peak RSS +{peak_mib() - before:.0f} MiB (peak {peak_mib():.0f} MiB)")  # fmt: skip
    finally:
        await service.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=["array", "kvlist", "attrs"], default="array")
    parser.add_argument("--values", type=int, default=1_999_000)
    parser.add_argument("--encoding", choices=["proto", "json"], default="proto")
    args = parser.parse_args()
    asyncio.run(main(args.shape, args.values, args.encoding))
