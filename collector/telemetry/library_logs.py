"""The Kafka client's own log lines, brought into the collector's levels and rate.

aiokafka logs at error level what is expected and retried: a broker that is away (a line per
connection attempt, dozens a second during an outage), a topic or a consumer group being
created at a first start. The collector's components already say what matters in their own
words ("Kafka unreachable at start; connecting in the background", "pipeline unavailable;
retrying"), so here each aiokafka line is:

- classified by the type of the error it carries, never by its text: a retriable Kafka error
  or a connection error is a ``warning``; so are the conditions of a normal first start that
  aiokafka logs without an error object (a topic not created yet, no partition metadata yet),
  named by their call site in aiokafka (its logger and format string), which are ``info``;
- rate-limited per call site: the first line passes, then at most one per ``WINDOW`` seconds,
  saying how many like it were left out;
- kept otherwise, at its own level, as a line of the collector's format, prefixed
  ``Kafka client:``.
"""

from __future__ import annotations

import logging
import threading
import time

from aiokafka.errors import KafkaConnectionError, KafkaError

#: the least time between two lines of one aiokafka call site
WINDOW = 30.0
#: aiokafka's lines of a normal first start that carry no error object: (logger, format)
_STARTING = frozenset({
    ("aiokafka.cluster", "Topic %s not found in cluster metadata"),
    ("aiokafka.cluster", "Topic %s is not available during auto-create initialization"),
    ("aiokafka.consumer.group_coordinator", "OffsetFetchRequest -- unknown topic %s"),
    ("aiokafka.coordinator.assignors.range", "No partition metadata for topic %s"),
    ("aiokafka.coordinator.assignors.roundrobin", "No partition metadata for topic %s"),
})  # fmt: skip


#: errors the client retries by itself: the network, a broker away
_RETRIED: tuple[type[BaseException], ...] = (OSError, TimeoutError, KafkaConnectionError)


def _retried(record: logging.LogRecord) -> bool:
    """Whether the error the record carries (its exception, or an error or error type among
    its arguments: aiokafka passes either) is one the client retries by itself."""
    candidates: list[object] = [record.exc_info[1] if record.exc_info else None]
    candidates += record.args if isinstance(record.args, tuple) else ()
    for value in candidates:
        kind = value if isinstance(value, type) else type(value)
        if issubclass(kind, BaseException):
            return issubclass(kind, _RETRIED) or (
                issubclass(kind, KafkaError) and bool(getattr(kind, "retriable", False))
            )
    return False


class KafkaClientLogs(logging.Filter):
    """A filter for the handler of the standard library's loggers (see the module)."""

    def __init__(self, level: int, window: float = WINDOW) -> None:
        super().__init__()
        self.level = level
        self.window = window
        self._lock = threading.Lock()
        #: call site -> (when its last line passed, lines left out since)
        self._sites: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka"):
            return True
        site = (record.name, str(record.msg))
        if site in _STARTING:
            level = logging.INFO
        elif _retried(record):
            level = logging.WARNING
        else:
            level = record.levelno
        if level < self.level:
            return False
        now = time.monotonic()
        with self._lock:
            last, left_out = self._sites.get(site, (-self.window, 0))
            if now - last < self.window:
                self._sites[site] = (last, left_out + 1)
                return False
            self._sites[site] = (now, 0)
        record.levelno, record.levelname = level, logging.getLevelName(level)
        record.msg = f"Kafka client: {record.msg}"
        if left_out:
            record.msg += f" (and {left_out} more like it in the last {self.window:g} s)"
        record.exc_info = None if level < logging.ERROR else record.exc_info
        return True
