"""CPU cost of each hot-path stage of session-collector, in microseconds per record.

Runs the project's own code in this one process, without HTTP or Kafka, on the same bodies
the load generator sends (``--batch`` records of one session per request), so the numbers
say where the edge's single core goes independently of the machine's other load:

- ``decode proto`` / ``decode json``: an ``ExportLogsServiceRequest`` into ``LogRecord`` s
- ``cowork``: the ``cowork`` processor (``derive`` for each record)
- ``redaction``: the ``redaction`` processor with the default attributes and patterns
- ``kafka messages``: what the ``kafka`` exporter does before aiokafka (group by
  ``session.id``, encode each group to protobuf)
- ``zstd``: compressing those messages as aiokafka does with ``compression: zstd``
- ``file line``: what the ``file`` exporter does (one OTLP/JSON line)
- ``clickhouse columns``: the row building of the ``clickhouse`` exporter (storage side)

    .venv/bin/python bench/stages.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen

from collector.component import ComponentID
from collector.pdata import otlp_json, otlp_proto
from collector.pdata.records import LogBatch


class _Null:
    async def consume(self, batch: LogBatch) -> None:
        pass


def _timeit(fn: Callable[[int], object], items: int, seconds: float) -> float:
    """Microseconds per call of ``fn(i)``, run for about ``seconds``."""
    n, i = 0, 0
    t0 = time.perf_counter()
    while True:
        fn(i % items)
        n += 1
        i += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds and n >= items:
            return elapsed / n * 1e6


def measure(batch: int = 100, pool: int = 32, seconds: float = 1.0) -> dict[str, Any]:
    from aiokafka.codec import zstd_encode

    from exporters import kafka as kafka_exporter
    from processors import cowork, redaction

    proto = loadgen.body_pool(1, pool, batch, "proto", False, 64, 1, 0.01)
    js = loadgen.body_pool(1, pool, batch, "json", False, 64, 1, 0.01)
    decoded = [otlp_proto.decode_request(b) for b in proto]
    cw = cowork.FACTORY.create(ComponentID("cowork"), cowork.CoworkConfig(), _Null())
    rd = redaction.FACTORY.create(ComponentID("redaction"), redaction.RedactionConfig(), _Null())
    kx = kafka_exporter.FACTORY.create(ComponentID("kafka"), kafka_exporter.KafkaExporterConfig())
    loop = asyncio.new_event_loop()
    fresh = [LogBatch("bench", otlp_proto.decode_request(b)) for b in proto]
    messages = [kx.messages(b)[0] for b in fresh]

    stages: dict[str, Callable[[int], object]] = {
        "decode proto": lambda i: otlp_proto.decode_request(proto[i]),
        "decode json": lambda i: otlp_json.decode_request(js[i]),
        "cowork": lambda i: loop.run_until_complete(cw.consume(LogBatch("b", decoded[i]))),
        "redaction": lambda i: loop.run_until_complete(rd.consume(fresh[i])),
        "kafka messages": lambda i: kx.messages(fresh[i]),
        "zstd": lambda i: [zstd_encode(v) for _, v in messages[i]],
        "file line": lambda i: otlp_json.encode_request(fresh[i]),
    }
    try:
        from collector.sessions.clickhouse import rows

        stages["clickhouse columns"] = lambda i: rows.columns("bench", fresh[i].records)
    except ImportError:
        pass
    out: dict[str, Any] = {"batch": batch, "proto_bytes": sum(map(len, proto)) // pool}
    out["json_bytes"] = sum(map(len, js)) // pool
    per_record: dict[str, float] = {}
    for name, fn in stages.items():
        per_record[name] = round(_timeit(fn, pool, seconds) / batch, 2)
    loop.close()
    out["us_per_record"] = per_record
    edge = ("decode proto", "cowork", "redaction", "kafka messages", "zstd")
    total = sum(per_record[k] for k in edge)
    out["edge_pipeline_us_per_record"] = round(total, 2)
    out["edge_pipeline_records_per_core_s"] = round(1e6 / total)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seconds", type=float, default=1.0, help="per stage")
    a = p.parse_args(argv)
    result = measure(a.batch, 32, a.seconds)
    for name, us in result["us_per_record"].items():
        print(f"{name:20s} {us:8.2f} us/record", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
