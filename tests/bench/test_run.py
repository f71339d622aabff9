"""bench/run.py reads the collector's logs in both encodings, turns its Prometheus histograms
into per-phase batch sizes and insert times, and checks exactly-once storage correctly."""

from __future__ import annotations

import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import run

BUCKETS = (10, 25, 50, 75, 100, 250, 500, 750, 1000, 2000, 3000, 8000, 9000)


def _exposition(sizes: list[int], inserts_s: list[float], sent: int) -> str:
    """What the collector serves on /metrics after these batches and inserts."""
    registry = CollectorRegistry()
    size = Histogram(run.BATCH_SIZE, "", ["processor"], registry=registry, buckets=BUCKETS)
    seconds = Histogram(run.INSERT_SECONDS, "", ["exporter"], registry=registry,
                        buckets=(0.01, 0.05, 0.1, 0.5, 1))  # fmt: skip
    exported = Counter("otelcol_exporter_sent_log_records", "", ["exporter"], registry=registry)
    for n in sizes:
        size.labels("batch").observe(n)
    size.labels("batch/other").observe(5)  # another batch processor: not counted
    for s in inserts_s:
        seconds.labels("clickhouse").observe(s)
    exported.labels("clickhouse").inc(sent)
    return generate_latest(registry).decode()


def test_store_stats_are_the_difference_between_two_scrapes() -> None:
    before = run.parse_metrics(_exposition([100, 100], [0.02], 200))
    after = run.parse_metrics(
        _exposition([100, 100] + [100] * 97 + [1600, 8192, 8192], [0.02, 0.03, 0.2, 0.4], 500)
    )
    stats = run.store_stats(before, after, 10.0)
    assert stats["batches"] == 100
    assert stats["batch_records_mean"] == round((97 * 100 + 1600 + 2 * 8192) / 100, 1)
    assert stats["batch_records_p50_bucket"] == (75.0, 100.0)
    assert stats["batch_records_p99_bucket"] == (8000.0, 9000.0)
    assert stats["inserts"] == 3
    assert stats["insert_ms_mean"] == 210.0
    assert stats["insert_ms_p99_bucket"] == (100.0, 500.0)
    assert stats["inserting_s_per_s"] == 0.063
    assert run.sample_value(after, run.EXPORTER_SENT, exporter="clickhouse") == 500


def test_a_quantile_past_the_last_bound_has_no_upper_bound() -> None:
    samples = run.parse_metrics(_exposition([20_000], [60.0], 0))
    stats = run.store_stats({}, samples, 1.0)
    assert stats["batch_records_p50_bucket"] == (9000.0, None)
    assert stats["insert_ms_p99_bucket"] == (1000.0, None)


def test_nothing_stored_gives_no_means() -> None:
    stats = run.store_stats({}, {}, 5.0)
    assert stats["batches"] == stats["inserts"] == 0
    assert stats["batch_records_mean"] is stats["insert_ms_mean"] is None
    assert stats["batch_records_p50_bucket"] is None


def test_events_are_found_in_json_and_console_logs() -> None:
    json_log = '{"event":"listening","level":"info"}\n{"event":"listening extra"}\n'
    console = (
        "2026-12-04T05:28:56Z [info     ] listening                      component=otlp\n"
        "2026-12-04T05:28:56Z [info     ] listening\n"
        "2026-12-04T05:28:56Z [info     ] listening for more           component=x\n"
        "2026-12-04T05:28:56Z [info     ] serving metrics                address=127.0.0.1:1\n"
    )
    assert run.count_events(json_log, "listening") == 1
    assert run.count_events(console, "listening") == 2
    assert run.count_events(console, "serving metrics") == 1


def _phase(ok_total: int, distinct: int) -> dict[str, int]:
    return {"batch": 100, "ok_total": ok_total, "ok_distinct_records": distinct}


def test_stored_once_counts_resent_bodies_once() -> None:
    phases = [_phase(300, 12_800), _phase(200, 12_800)]
    stored = {"rows": 40_000, "sessions": 10, "distinct_records": 25_600}
    assert run.stored_once(phases, 50_000, stored)["ok"]
    # a record lost, inserted twice, or a distinct record missing from the store
    assert not run.stored_once(phases, 49_900, stored)["ok"]
    assert not run.stored_once(phases, 50_100, stored)["ok"]
    assert not run.stored_once(phases, 50_000, {**stored, "distinct_records": 25_500})["ok"]
    assert not run.stored_once(phases, 50_000, {"error": "chdb failed"})["ok"]
