"""The collector's own metrics, served in the Prometheus format on
``service.telemetry.metrics.address``. Names follow the OpenTelemetry Collector's where
one exists (``otelcol_*``, with its ``receiver``/``processor``/``exporter`` labels); ours
are ``session_collector_*``. Labels never take unbounded values from payloads: unknown
event names and clients are counted as ``other``.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# No ``*_created`` series beside every counter and histogram: the OpenTelemetry Collector has
# none, and they double what a scrape carries.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)

#: the unit each signal's records are counted in, as the OpenTelemetry Collector names it
_UNITS = {
    "logs": ("log_records", "Log records"),
    "metrics": ("metric_points", "Metric data points"),
    "traces": ("spans", "Spans"),
}
#: each family's counter of log records -> the family by signal (see :func:`of_signal`)
_FAMILIES: dict[int, dict[str, Counter]] = {}


def _per_signal(stem: str, what: str, labels: list[str]) -> Counter:
    """A counter per signal, ``{stem}_log_records``, ``_metric_points`` and ``_spans``
    (``what`` names the unit with ``{}``); returns the one of log records."""
    family = {
        signal: Counter(f"{stem}_{unit}", what.format(noun), labels, registry=REGISTRY)
        for signal, (unit, noun) in _UNITS.items()
    }
    _FAMILIES[id(family["logs"])] = family
    return family["logs"]


def of_signal(counter: Counter, signal: str) -> Counter:
    """The counter of ``counter``'s family (one of the log-record counters made by
    ``_per_signal``) that counts ``signal``'s unit: log records, data points or spans."""
    return _FAMILIES[id(counter)][signal]


receiver_accepted = _per_signal(
    "otelcol_receiver_accepted",
    "{} the receiver handed to the pipeline and the pipeline accepted.",
    ["receiver", "transport"],
)
receiver_refused = _per_signal(
    "otelcol_receiver_refused",
    "{} the receiver could not hand to the pipeline (refused, failed or invalid).",
    ["receiver", "transport"],
)
exporter_sent = _per_signal(
    "otelcol_exporter_sent",
    "{} delivered to the destination (or, without a queue, accepted by it).",
    ["exporter"],
)
exporter_send_failed = _per_signal(
    "otelcol_exporter_send_failed",
    "{} the exporter failed to deliver (and did not queue).",
    ["exporter"],
)
exporter_enqueue_failed = _per_signal(
    "otelcol_exporter_enqueue_failed",
    "{} refused because the sending queue was full.",
    ["exporter"],
)
exporter_queue_size = Gauge(
    "otelcol_exporter_queue_size", "Batches in the sending queue.", ["exporter"],
    registry=REGISTRY, multiprocess_mode="livesum",
)  # fmt: skip
exporter_queue_capacity = Gauge(
    "otelcol_exporter_queue_capacity", "Capacity of the sending queue, in batches.",
    ["exporter"], registry=REGISTRY, multiprocess_mode="livesum",
)  # fmt: skip
batch_send_size = Histogram(
    "otelcol_processor_batch_batch_send_size", "Records per batch sent by the batch processor.",
    ["processor"], registry=REGISTRY,
    buckets=(10, 25, 50, 75, 100, 250, 500, 750, 1000, 2000, 3000, 4000, 5000, 6000, 7000,
             8000, 9000, 10000, 20000, 30000, 50000, 100000),
)  # fmt: skip
processor_refused = _per_signal(
    "otelcol_processor_refused",
    "{} a processor refused (the memory limiter under pressure).",
    ["processor"],
)

http_requests = Counter(
    "session_collector_http_requests",
    "HTTP requests answered, by receiver, path and status.",
    ["receiver", "path", "status"], registry=REGISTRY,
)  # fmt: skip
auth_failures = Counter(
    "session_collector_auth_failures",
    "Requests refused by authentication, by reason.",
    ["component", "reason"], registry=REGISTRY,
)  # fmt: skip
records_by_event = Counter(
    "session_collector_log_records_by_event",
    "Log records seen by the cowork processor, by event name and client.",
    ["processor", "event", "client"], registry=REGISTRY,
)  # fmt: skip
sessions_seen = Counter(
    "session_collector_sessions_seen",
    "Sessions seen for the first time (by this process, over a bounded memory of ids).",
    ["processor"], registry=REGISTRY,
)  # fmt: skip
records_without_session = Counter(
    "session_collector_records_without_session",
    "Log records with no session.id.", ["processor"], registry=REGISTRY,
)  # fmt: skip
redactions = Counter(
    "session_collector_redactions", "Secrets masked by the redaction processor.",
    ["processor"], registry=REGISTRY,
)  # fmt: skip
kafka_consumer_lag = Gauge(
    "session_collector_kafka_consumer_lag",
    "Messages of a partition not yet consumed (high watermark minus position).",
    ["receiver", "topic", "partition"], registry=REGISTRY, multiprocess_mode="livemax",
)  # fmt: skip
kafka_dead_lettered = Counter(
    "session_collector_kafka_dead_lettered_messages",
    "Messages sent to the dead-letter topic.", ["receiver"], registry=REGISTRY,
)  # fmt: skip
clickhouse_insert_seconds = Histogram(
    "session_collector_clickhouse_insert_duration_seconds",
    "Time of one INSERT into ClickHouse.", ["exporter"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip
clickhouse_rejected = Counter(
    "session_collector_clickhouse_rejected_log_records",
    "Log records ClickHouse refused for good (isolated from their batch, handed to the "
    "dead-letter path); the rest of their batch was stored.",
    ["exporter"], registry=REGISTRY,
)  # fmt: skip
clickhouse_values_emptied = Counter(
    "session_collector_clickhouse_values_out_of_range",
    "Values a typed column could not hold, stored empty (the original stays in "
    "LogAttributes; the row's ValuesOutOfRange names the column), by column, as the store "
    "counts them (every writer of the store), read every 10 s.",
    ["exporter", "column"], registry=REGISTRY,
)  # fmt: skip
exporter_drain_failures = Counter(
    "session_collector_exporter_queue_drain_failures",
    "Times a sending queue's drainer failed and was restarted.",
    ["exporter"], registry=REGISTRY,
)  # fmt: skip
exporter_dead_lettered = Counter(
    "session_collector_exporter_dead_lettered_log_records",
    "Queued log records the destination refused for good, moved to the queue's "
    "dead-letter table.",
    ["exporter"], registry=REGISTRY,
)  # fmt: skip
http_connections_cut = Counter(
    "session_collector_http_connections_cut",
    "Connections closed before a request was read, by server and reason: header_timeout, "
    "server_limit, address_limit.",
    ["server", "reason"], registry=REGISTRY,
)  # fmt: skip
