"""aiokafka's log lines at the collector's levels and rate: retried conditions are warnings
(those of a normal first start, info), one per call site per window, saying how many were
left out; the rest keep their level; other libraries are untouched."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from collector.telemetry.library_logs import KafkaClientLogs


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_flood_of_connection_errors_is_one_warning_per_window(capture: Capture) -> None:
    capture.addFilter(KafkaClientLogs(logging.INFO, window=0.2))
    log = logging.getLogger("aiokafka")
    for _ in range(100):
        log.error('Unable connect to "%s:%s": %s', "k1", 9092, KafkaConnectionError("refused"))
    (first,) = capture.records
    assert first.levelno == logging.WARNING
    assert first.getMessage().startswith('Kafka client: Unable connect to "k1:9092"')
    time.sleep(0.25)
    log.error('Unable connect to "%s:%s": %s', "k1", 9092, KafkaConnectionError("refused"))
    assert "(and 99 more like it in the last 0.2 s)" in capture.records[1].getMessage()


def test_a_topic_not_yet_created_at_a_first_start_is_info(capture: Capture) -> None:
    capture.addFilter(KafkaClientLogs(logging.INFO))
    logging.getLogger("aiokafka.cluster").error("Topic %s not found in cluster metadata", "t")
    (record,) = capture.records
    assert record.levelno == logging.INFO


def test_at_warning_level_the_first_start_lines_are_left_out(capture: Capture) -> None:
    capture.addFilter(KafkaClientLogs(logging.WARNING))
    logging.getLogger("aiokafka.cluster").error("Topic %s not found in cluster metadata", "t")
    assert capture.records == []


def test_an_error_the_client_does_not_retry_stays_an_error(capture: Capture) -> None:
    capture.addFilter(KafkaClientLogs(logging.INFO))
    logging.getLogger("aiokafka.consumer.fetcher").error(
        "Failed fetch messages from %s: %s", 1, TopicAuthorizationFailedError()
    )
    (record,) = capture.records
    assert record.levelno == logging.ERROR


def test_other_libraries_are_untouched(capture: Capture) -> None:
    capture.addFilter(KafkaClientLogs(logging.INFO))
    for _ in range(3):
        logging.getLogger("aiohttp.server").error("boom %s", KafkaConnectionError())
    assert [r.levelno for r in capture.records] == [logging.ERROR] * 3


def test_an_edge_with_its_broker_away_logs_a_kafka_client_line_at_most_once(
    tmp_path: Path,
) -> None:
    config = tmp_path / "edge.yaml"
    config.write_text(
        "receivers: {otlp: {endpoint: 127.0.0.1:0}}\n"
        "exporters: {kafka: {brokers: ['127.0.0.1:9'], timeout: 1s}}\n"
        "service:\n  telemetry: {metrics: {level: none}}\n"
        "  pipelines: {logs: {receivers: [otlp], exporters: [kafka]}}\n"
    )
    proc = subprocess.Popen([sys.executable, "-m", "collector", "run", "--config", str(config)],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(6)  # aiokafka retries the broker every second or so meanwhile
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    lines = [line for line in err.splitlines() if "[aiokafka" in line]
    assert len(lines) <= 1, lines
    assert all("[warning" in line and "Kafka client:" in line for line in lines)
    assert "Kafka unreachable at start" in err
