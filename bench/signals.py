"""CPU cost of metrics and traces at each stage, in microseconds per data point or span.

Claude Code's real exports (``tests/data/claude-code-2.1.197-write/http-protobuf``) are
repeated into one request of ``--copies`` resources (10 data points and 6 spans each, as the
CLI sends them per export), then run through the project's own code in this one process:

- ``decode proto`` / ``decode json``: the request into data points or spans, with the
  receiver's limits (what the ``otlp`` receiver does per request)
- ``encode proto``: the batch back into one export request (the ``kafka`` exporter, the disk
  queue)
- ``encode json``: one OTLP/JSON line (the ``file`` exporter, ``otlp_json``)
- ``clickhouse columns``: the rows of the OpenTelemetry Collector's tables (``clickhouse``)

    .venv/bin/python bench/signals.py [--copies 100] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from collector.pdata import signals
from collector.pdata.records import RequestLimits
from collector.sessions.clickhouse import otel_signals

CAPTURES = Path(__file__).resolve().parent.parent / "tests" / "data"
CAPTURE = CAPTURES / "claude-code-2.1.197-write" / "http-protobuf"
LIMITS = RequestLimits(100_000, 2_000_000)


def _per_item(fn: Callable[[], object], items: int, seconds: float) -> float:
    """Microseconds per item of one call of ``fn`` (handling ``items``), over ``seconds``."""
    n = 0
    t0 = time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return elapsed / (n * items) * 1e6


def _repeated(cls: Any, name: str, copies: int) -> bytes:
    one = cls.FromString((CAPTURE / name).read_bytes())
    request = cls()
    for _ in range(copies):
        request.MergeFrom(one)
    return bytes(request.SerializeToString())


def _stages(signal: str, cls: Any, name: str, copies: int, seconds: float) -> dict[str, Any]:
    proto = _repeated(cls, name, copies)
    decode = signals.DECODERS[(signals.Signal(signal), "proto")]
    decode_json = signals.DECODERS[(signals.Signal(signal), "json")]
    items = decode(proto, LIMITS)
    batch: Any = signals.batch_of(signal, "acme", items)
    text = batch.to_json()
    columns: Any = otel_signals.metric_columns if signal == "metrics" else otel_signals.span_columns
    n = len(items)
    return {
        "items per request": n,
        "request bytes": len(proto),
        "decode proto": _per_item(lambda: decode(proto, LIMITS), n, seconds),
        "decode json": _per_item(lambda: decode_json(text, LIMITS), n, seconds),
        "encode proto": _per_item(batch.to_proto, n, seconds),
        "encode json": _per_item(batch.to_json, n, seconds),
        "clickhouse columns": _per_item(lambda: columns("acme", items), n, seconds),
    }


def measure(copies: int = 100, seconds: float = 1.0) -> dict[str, Any]:
    return {
        "metrics": _stages("metrics", ExportMetricsServiceRequest, "metrics.pb", copies, seconds),
        "traces": _stages("traces", ExportTraceServiceRequest, "traces.pb", copies, seconds),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--copies", type=int, default=100, help="resources per request")
    p.add_argument("--seconds", type=float, default=1.0, help="per stage")
    args = p.parse_args(argv)
    result = measure(args.copies, args.seconds)
    for signal, stages in result.items():
        print(f"{signal}: {stages['items per request']} per request, "
              f"{stages['request bytes']} bytes")  # fmt: skip
        for stage, value in stages.items():
            if isinstance(value, float):
                print(f"  {stage:20s} {value:7.2f} us")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
