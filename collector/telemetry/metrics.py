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

receiver_accepted = Counter(
    "otelcol_receiver_accepted_log_records",
    "Log records the receiver handed to the pipeline and the pipeline accepted.",
    ["receiver", "transport"], registry=REGISTRY,
)  # fmt: skip
receiver_refused = Counter(
    "otelcol_receiver_refused_log_records",
    "Log records the receiver could not hand to the pipeline (refused, failed or invalid).",
    ["receiver", "transport"], registry=REGISTRY,
)  # fmt: skip
exporter_sent = Counter(
    "otelcol_exporter_sent_log_records",
    "Log records delivered to the destination (or, without a queue, accepted by it).",
    ["exporter"], registry=REGISTRY,
)  # fmt: skip
exporter_send_failed = Counter(
    "otelcol_exporter_send_failed_log_records",
    "Log records the exporter failed to deliver (and did not queue).",
    ["exporter"], registry=REGISTRY,
)  # fmt: skip
exporter_enqueue_failed = Counter(
    "otelcol_exporter_enqueue_failed_log_records",
    "Log records refused because the sending queue was full.",
    ["exporter"], registry=REGISTRY,
)  # fmt: skip
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
processor_refused = Counter(
    "otelcol_processor_refused_log_records",
    "Log records a processor refused (the memory limiter under pressure).",
    ["processor"], registry=REGISTRY,
)  # fmt: skip

#: the same counters for metrics and traces, named as the OpenTelemetry Collector names them
#: (``otelcol_receiver_accepted_metric_points``, ``otelcol_exporter_sent_spans``, ...)
_UNITS = {"metrics": ("metric_points", "Metric data points"), "traces": ("spans", "Spans")}
_BY_SIGNAL: dict[int, dict[str, Counter]] = {}
for _counter in (receiver_accepted, receiver_refused, exporter_sent, exporter_send_failed,
                 exporter_enqueue_failed, processor_refused):  # fmt: skip
    _name = _counter._name.removesuffix("_log_records")
    _family: dict[str, Counter] = {"logs": _counter}
    for _signal, (_unit, _what) in _UNITS.items():
        _family[_signal] = Counter(
            f"{_name}_{_unit}",
            _counter._documentation.replace("Log records", _what),
            list(_counter._labelnames), registry=REGISTRY,
        )  # fmt: skip
    _BY_SIGNAL[id(_counter)] = _family


def of_signal(counter: Counter, signal: str) -> Counter:
    """The counter of ``counter``'s family (one of the log-record counters above) that counts
    ``signal``'s unit: log records, metric data points or spans."""
    return _BY_SIGNAL[id(counter)][signal]


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
