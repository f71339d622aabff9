"""The store's schema, versioned: each migration runs once, in order, recorded in
``schema_migrations``; an older store is upgraded in place at start, never dropped.

Why the figures are right under redelivery. Every record has an identity, ``RecordId``,
computed by ClickHouse (version 3):

- where the sender numbers its events (``session.id`` and ``event.sequence``, as Claude
  Code and Cowork do): ``cityHash64(Tenant, SessionId, Sequence, EventName, EventTime)``;
- otherwise ``cityHash64(Tenant, ContentHash)``, where ``ContentHash`` is a hash of the whole
  record as sent (resource, scope, every field and attribute), filled by
  :mod:`collector.sessions.clickhouse.rows`.

``otel_logs`` and ``session_events`` are ReplacingMergeTree tables whose sorting keys end
with that identity, so a record stored twice (a client retry, a Kafka replay, the batch
processor grouping it differently) collapses into one row, and two records that differ in
anything stay two rows. The ``sessions`` and ``prompts`` views aggregate
``session_events FINAL``, which counts each identity once even before a merge has collapsed
the copies. Aggregating states in a materialized view (``sumState``) would not be
idempotent: a duplicate insert would add twice, and a materialized view does not inherit its
source table's insert deduplication.

Metrics and traces (version 4) are stored as the OpenTelemetry Collector's ClickHouse
exporter stores them, so Grafana's ClickHouse data source reads them: ``otel_metrics_gauge``,
``otel_metrics_sum``, ``otel_metrics_histogram``, ``otel_metrics_exponential_histogram``,
``otel_metrics_summary`` and ``otel_traces`` (with ``otel_traces_trace_id_ts``, each trace's
time range), its columns and types, plus ``Tenant`` and ``ValuesOutOfRange``. Each is a
ReplacingMergeTree whose sorting key starts with ``Tenant`` and ends with ``RecordId``, a
``cityHash64`` that ClickHouse computes of every column the row was inserted with
(:data:`collector.sessions.clickhouse.otel_signals.COLUMNS`): the same data point or span
stored twice is one row after a merge or with ``FINAL``, two that differ in anything stay
two. A session's metric figures (:mod:`collector.sessions.clickhouse.queries`) read
``otel_metrics_sum FINAL``: delta points add once each, a cumulative series counts its latest
value.

Versions 1 and 2 formed every identity from ``(Tenant, SessionId, Sequence, EventName,
EventTime)``, so records without ``session.id``/``event.sequence`` that shared a service and
a time collapsed into one. Version 3 copies both tables into the new identity (rows stored
before it get a ``ContentHash`` from their stored columns) and checks the row counts before
it swaps them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from collector.sessions.clickhouse import derive, ingest, otel_signals
from collector.sessions.clickhouse.client import Store

log = structlog.get_logger(__name__)
# Parts up to 128 MiB are written compact (one file): an insert of a few thousand records
# otherwise creates ~175 files, which costs more than everything else it does.
_COMPACT = "min_bytes_for_wide_part = 134217728"

_OTEL_LOGS = """
CREATE TABLE IF NOT EXISTS otel_logs (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),
    Tenant LowCardinality(String),
    SessionId String CODEC(ZSTD(1)),
    PromptId String CODEC(ZSTD(1)),
    Client LowCardinality(String),
    ClientVersion LowCardinality(String),
    UserId String CODEC(ZSTD(1)),
    UserEmail String CODEC(ZSTD(1)),
    Org String CODEC(ZSTD(1)),
    ToolUseId String CODEC(ZSTD(1)),
    Model LowCardinality(String),
    EventTime DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    Sequence Int64,
    InputTokens UInt64,
    OutputTokens UInt64,
    CacheReadTokens UInt64,
    CacheCreationTokens UInt64,
    CostUsd Float64,
    CostMicros Int64,
    DurationMs Float64,
    PromptLength UInt64,
    StatusCode Int32,
    Success Int8,
    RecordId UInt64 MATERIALIZED cityHash64(Tenant, SessionId, Sequence, EventName, EventTime),
    INDEX idx_session SessionId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp, RecordId)
{ttl}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

_SESSION_EVENTS = """
CREATE TABLE IF NOT EXISTS session_events (
    Tenant LowCardinality(String),
    SessionId String,
    RecordId UInt64,
    PromptId String,
    EventName LowCardinality(String),
    EventTime DateTime64(9, 'UTC'),
    Client LowCardinality(String),
    ClientVersion LowCardinality(String),
    UserEmail String,
    UserId String,
    Org String,
    Model LowCardinality(String),
    InputTokens UInt64,
    OutputTokens UInt64,
    CacheReadTokens UInt64,
    CacheCreationTokens UInt64,
    CostMicros Int64,
    DurationMs Float64,
    Success Int8,
    PromptLength UInt64,
    PromptText String,
    ResponseText String
) ENGINE = ReplacingMergeTree
ORDER BY (Tenant, SessionId, RecordId)
{ttl}
"""

_SESSION_EVENTS_SELECT = """
SELECT Tenant, SessionId, RecordId, PromptId, EventName, EventTime, Client, ClientVersion,
    UserEmail, UserId, Org, Model, InputTokens, OutputTokens, CacheReadTokens,
    CacheCreationTokens, CostMicros, DurationMs, Success, PromptLength,
    if(EventName = 'user_prompt' AND LogAttributes['prompt'] != '<REDACTED>',
       LogAttributes['prompt'], '') AS PromptText,
    if(EventName = 'assistant_response' AND LogAttributes['response'] != '<REDACTED>',
       LogAttributes['response'], '') AS ResponseText
FROM otel_logs
WHERE SessionId != ''
"""

_SESSIONS_VIEW = """
CREATE VIEW IF NOT EXISTS sessions AS
SELECT
    SessionId AS session_id,
    Tenant AS tenant,
    argMin(Client, EventTime) AS client,
    argMaxIf(ClientVersion, EventTime, ClientVersion != '') AS client_version,
    argMaxIf(UserEmail, EventTime, UserEmail != '') AS user_email,
    argMaxIf(UserId, EventTime, UserId != '') AS user_id,
    argMaxIf(Org, EventTime, Org != '') AS org,
    min(EventTime) AS first_seen,
    max(EventTime) AS last_seen,
    uniqExactIf(PromptId, PromptId != '') AS prompts,
    countIf(EventName = 'api_request') AS api_requests,
    countIf(EventName = 'api_error') AS api_errors,
    countIf(EventName = 'tool_result') AS tool_calls,
    countIf(EventName = 'tool_result' AND Success = 0) AS tool_failures,
    sumIf(InputTokens, EventName = 'api_request') AS input_tokens,
    sumIf(OutputTokens, EventName = 'api_request') AS output_tokens,
    sumIf(CacheReadTokens, EventName = 'api_request') AS cache_read_tokens,
    sumIf(CacheCreationTokens, EventName = 'api_request') AS cache_creation_tokens,
    sumIf(CostMicros, EventName = 'api_request') / 1000000 AS cost_usd,
    arraySort(groupUniqArrayIf(Model, Model != '')) AS models,
    leftUTF8(argMinIf(PromptText, EventTime, PromptText != ''), 120) AS title
FROM session_events FINAL
GROUP BY Tenant, SessionId
"""

_PROMPTS_VIEW = """
CREATE VIEW IF NOT EXISTS prompts AS
SELECT
    PromptId AS prompt_id,
    SessionId AS session_id,
    Tenant AS tenant,
    min(EventTime) AS time,
    argMinIf(PromptText, EventTime, PromptText != '') AS text,
    maxIf(PromptLength, EventName = 'user_prompt') AS length,
    argMaxIf(ResponseText, EventTime, ResponseText != '') AS response,
    countIf(EventName = 'tool_result') AS tool_calls,
    countIf(EventName = 'api_request') AS api_requests,
    countIf(EventName = 'api_error') AS api_errors,
    sumIf(InputTokens, EventName = 'api_request') AS input_tokens,
    sumIf(OutputTokens, EventName = 'api_request') AS output_tokens,
    sumIf(CacheReadTokens, EventName = 'api_request') AS cache_read_tokens,
    sumIf(CacheCreationTokens, EventName = 'api_request') AS cache_creation_tokens,
    sumIf(CostMicros, EventName = 'api_request') / 1000000 AS cost_usd,
    dateDiff('millisecond', min(EventTime), max(EventTime)) AS duration_ms
FROM session_events FINAL
WHERE PromptId != ''
GROUP BY Tenant, SessionId, PromptId
"""


#: the identity of a row without the sender's numbering, where the insert does not give one
#: (rows stored before version 3, and the Python insert path): a hash of everything stored
#: of it, which is everything it was sent with, as text
_CONTENT_HASH_OF_STORED = (
    "if(SessionId != '' AND Sequence >= 0, 0, cityHash64(Timestamp, TraceId, SpanId, "
    "TraceFlags, SeverityText, SeverityNumber, Body, ResourceSchemaUrl, ResourceAttributes, "
    "ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes, EventName))"
)


_RECORD_ID_V2 = (
    "RecordId UInt64 MATERIALIZED cityHash64(Tenant, SessionId, Sequence, EventName, EventTime),"
)
_RECORD_ID_V3 = f"""ValuesOutOfRange Array(LowCardinality(String)),
    ContentHash UInt64 DEFAULT {_CONTENT_HASH_OF_STORED},
    RecordId UInt64 MATERIALIZED if(SessionId != '' AND Sequence >= 0,
        cityHash64(Tenant, SessionId, Sequence, EventName, EventTime),
        cityHash64(Tenant, ContentHash)),"""
#: the columns stored in ``otel_logs`` before version 3, copied as they are
_V2_COLUMNS = (
    "Timestamp, TimestampTime, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, "
    "ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, "
    "ScopeVersion, ScopeAttributes, LogAttributes, EventName, Tenant, SessionId, PromptId, "
    "Client, ClientVersion, UserId, UserEmail, Org, ToolUseId, Model, EventTime, Sequence, "
    "InputTokens, OutputTokens, CacheReadTokens, CacheCreationTokens, CostUsd, CostMicros, "
    "DurationMs, PromptLength, StatusCode, Success"
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...] = ()
    #: steps that need more than SQL statements, run after them
    apply: Callable[[Store], None] | None = None


def _record_identity(logs_ttl: str, events_ttl: str) -> Callable[[Store], None]:
    """Version 3: both tables copied into the new identity, counts checked, swapped in."""

    def apply(store: Store) -> None:
        store.command("DROP VIEW IF EXISTS session_events_mv")
        if not _has_column(store, "otel_logs", "ContentHash"):
            store.command("DROP TABLE IF EXISTS otel_logs_v3")
            store.command(_OTEL_LOGS_V3.format(ttl=logs_ttl))
            store.command(
                f"INSERT INTO otel_logs_v3 ({_V2_COLUMNS}) SELECT {_V2_COLUMNS} FROM otel_logs"
            )
            _same_count(store, "otel_logs", "otel_logs_v3")
            store.command("DROP TABLE IF EXISTS otel_logs_before_v3")
            store.command(
                "RENAME TABLE otel_logs TO otel_logs_before_v3, otel_logs_v3 TO otel_logs"
            )
        store.command("DROP TABLE IF EXISTS session_events_v3")
        store.command(
            _SESSION_EVENTS.format(ttl=events_ttl).replace(
                "EXISTS session_events (", "EXISTS session_events_v3 ("
            )
            + f" SETTINGS {_COMPACT}"
        )
        store.command("INSERT INTO session_events_v3" + _SESSION_EVENTS_SELECT)
        store.command("DROP TABLE IF EXISTS session_events_before_v3")
        store.command(
            "RENAME TABLE session_events TO session_events_before_v3, "
            "session_events_v3 TO session_events"
        )
        store.command(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS session_events_mv TO session_events AS"
            + _SESSION_EVENTS_SELECT
        )
        store.command(_VALUES_OUT_OF_RANGE)
        store.command(_VALUES_OUT_OF_RANGE_MV)
        if supports_ingest(store):
            store.command(ingest.DDL)
            for statement in derive.view_sql():
                store.command(statement)
        store.command("DROP TABLE IF EXISTS otel_logs_before_v3")
        store.command("DROP TABLE IF EXISTS session_events_before_v3")

    return apply


_VALUES_OUT_OF_RANGE = """
CREATE TABLE IF NOT EXISTS values_out_of_range (
    Tenant LowCardinality(String),
    Column LowCardinality(String),
    Count UInt64
) ENGINE = SummingMergeTree ORDER BY (Tenant, Column)
"""
_VALUES_OUT_OF_RANGE_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS values_out_of_range_mv TO values_out_of_range AS
SELECT Tenant, arrayJoin(ValuesOutOfRange) AS Column, toUInt64(1) AS Count
FROM otel_logs WHERE notEmpty(ValuesOutOfRange)
"""


# -- metrics and traces (version 4) ------------------------------------------------------------

_METRIC_HEAD = """
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),"""
_EXEMPLARS = """
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),"""
_METRIC_INDEXES = """
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1"""
#: what every table of version 4 adds to the OpenTelemetry Collector's columns
_OURS = """
    Tenant LowCardinality(String),
    ValuesOutOfRange Array(LowCardinality(String)),
    RecordId UInt64 MATERIALIZED {identity},"""
_METRIC_BODY = {
    "otel_metrics_gauge": """
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),"""
    + _EXEMPLARS,
    "otel_metrics_sum": """
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),"""
    + _EXEMPLARS
    + """
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    IsMonotonic Boolean CODEC(Delta, ZSTD(1)),""",
    "otel_metrics_histogram": """
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    BucketCounts Array(UInt64) CODEC(ZSTD(1)),
    ExplicitBounds Array(Float64) CODEC(ZSTD(1)),"""
    + _EXEMPLARS
    + """
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),""",
    "otel_metrics_exponential_histogram": """
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    Scale Int32 CODEC(ZSTD(1)),
    ZeroCount UInt64 CODEC(ZSTD(1)),
    PositiveOffset Int32 CODEC(ZSTD(1)),
    PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    NegativeOffset Int32 CODEC(ZSTD(1)),
    NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),"""
    + _EXEMPLARS
    + """
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),""",
    "otel_metrics_summary": """
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    ValueAtQuantiles Nested (
        Quantile Float64,
        Value Float64
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),""",
}
_METRIC_TABLE = """
CREATE TABLE IF NOT EXISTS {table} ({head}{body}{ours}{indexes}
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (Tenant, ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix), RecordId)
{ttl}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, {compact}
"""
_OTEL_TRACES = """
CREATE TABLE IF NOT EXISTS otel_traces (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    ResourceAttributeItems Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2),
        CAST(ResourceAttributes, 'Array(Tuple(String, String))')),
    SpanAttributeItems Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2),
        CAST(SpanAttributes, 'Array(Tuple(String, String))')),{ours}
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(Timestamp)
PRIMARY KEY (Tenant, ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (Tenant, ServiceName, SpanName, toDateTime(Timestamp), Timestamp, RecordId)
{ttl}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, {compact}
"""
#: when each trace starts and ends (Grafana's trace lookups); min and max are idempotent, so
#: a redelivered span changes nothing
_OTEL_TRACES_TRACE_ID_TS = """
CREATE TABLE IF NOT EXISTS otel_traces_trace_id_ts (
    Tenant LowCardinality(String),
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1))
) ENGINE = AggregatingMergeTree
PARTITION BY toStartOfWeek(Start)
ORDER BY (Tenant, TraceId)
{ttl}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""
_OTEL_TRACES_TRACE_ID_TS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_trace_id_ts_mv TO otel_traces_trace_id_ts AS
SELECT Tenant, TraceId, toDateTime(min(Timestamp)) AS Start, toDateTime(max(Timestamp)) AS End
FROM otel_traces WHERE TraceId != '' GROUP BY Tenant, TraceId
"""


def identity(table: str) -> str:
    """A table's ``RecordId``: a hash of every column its rows are inserted with."""
    return "cityHash64(" + ", ".join(f"`{c}`" for c in otel_signals.COLUMNS[table]) + ")"


def _signals_statements(seconds: int) -> tuple[str, ...]:
    """Version 4: the OpenTelemetry Collector's metrics and traces tables."""

    def ttl(column: str) -> str:
        return f"TTL {column} + toIntervalSecond({seconds})" if seconds else ""

    statements = []
    for table, body in _METRIC_BODY.items():
        statements.append(
            _METRIC_TABLE.format(
                table=table, head=_METRIC_HEAD, body=body, indexes=_METRIC_INDEXES,
                ours=_OURS.format(identity=identity(table)), ttl=ttl("toDateTime(TimeUnix)"),
                compact=_COMPACT,
            )
        )  # fmt: skip
    statements.append(
        _OTEL_TRACES.format(
            ours=_OURS.format(identity=identity("otel_traces")),
            ttl=ttl("toDateTime(Timestamp)"), compact=_COMPACT,
        )
    )  # fmt: skip
    statements.append(_OTEL_TRACES_TRACE_ID_TS.format(ttl=ttl("Start")))
    statements.append(_OTEL_TRACES_TRACE_ID_TS_MV)
    for table in otel_signals.COLUMNS:
        statements.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {table}_out_of_range_mv "
            "TO values_out_of_range AS SELECT Tenant, "
            f"concat('{table}.', arrayJoin(ValuesOutOfRange)) AS Column, toUInt64(1) AS Count "
            f"FROM {table} WHERE notEmpty(ValuesOutOfRange)"
        )
    return tuple(statements)


def supports_ingest(store: Store) -> bool:
    """Whether ClickHouse takes a Protobuf schema with the insert (``format_schema_source``),
    which the fast insert path (:mod:`collector.sessions.clickhouse.ingest`) needs."""
    rows = store.query(
        "SELECT count() AS n FROM system.settings WHERE name = 'format_schema_source'"
    )
    return bool(rows[0]["n"])


def has_ingest_view(store: Store) -> bool:
    """Whether this store has the fast insert path's views (inserting into its ``Null``
    table without them would keep nothing)."""
    rows = store.query(
        "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() "
        "AND name IN ({a:String}, {b:String})",
        {"a": ingest.VIEW, "b": f"{ingest.STAGE}_mv"},
    )
    return int(rows[0]["n"]) == 2


def _has_column(store: Store, table: str, column: str) -> bool:
    rows = store.query(
        "SELECT count() AS n FROM system.columns WHERE database = currentDatabase() "
        "AND table = {t:String} AND name = {c:String}",
        {"t": table, "c": column},
    )
    return bool(rows[0]["n"])


def _same_count(store: Store, source: str, copy: str) -> None:
    counts = [store.query(f"SELECT count() AS n FROM {t}")[0]["n"] for t in (source, copy)]
    if counts[0] != counts[1]:
        raise RuntimeError(
            f"migration stopped: {copy} holds {counts[1]} rows, {source} {counts[0]}; "
            f"{source} is unchanged"
        )


def migrations(ttl: timedelta | None = None) -> list[Migration]:
    """Every migration, in order. ``ttl`` applies to tables created by them."""
    seconds = int(ttl.total_seconds()) if ttl else 0
    logs_ttl = f"TTL TimestampTime + toIntervalSecond({seconds})" if seconds else ""
    events_ttl = f"TTL toDateTime(EventTime) + toIntervalSecond({seconds})" if seconds else ""
    return [
        Migration(1, "otel_logs", (_OTEL_LOGS.format(ttl=logs_ttl),)),
        Migration(
            2,
            "sessions and prompts",
            (
                _SESSION_EVENTS.format(ttl=events_ttl),
                "CREATE MATERIALIZED VIEW IF NOT EXISTS session_events_mv TO session_events AS"
                + _SESSION_EVENTS_SELECT,
                # rows stored before this version get their sessions too
                "INSERT INTO session_events" + _SESSION_EVENTS_SELECT,
                _SESSIONS_VIEW,
                _PROMPTS_VIEW,
            ),
        ),
        Migration(3, "record identity", apply=_record_identity(logs_ttl, events_ttl)),
        Migration(4, "metrics and traces", _signals_statements(seconds)),
    ]


LATEST = migrations()[-1].version
_OTEL_LOGS_V3 = _OTEL_LOGS.replace("EXISTS otel_logs (", "EXISTS otel_logs_v3 (").replace(
    _RECORD_ID_V2, _RECORD_ID_V3
)
assert "ContentHash" in _OTEL_LOGS_V3 and "otel_logs_v3" in _OTEL_LOGS_V3
_OTEL_LOGS_V3 = _OTEL_LOGS_V3.replace(
    "SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1",
    f"SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, {_COMPACT}",
)
assert _COMPACT in _OTEL_LOGS_V3


def current_version(store: Store) -> int:
    store.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
        "applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version"
    )
    rows = store.query("SELECT max(version) AS v FROM schema_migrations")
    return int(rows[0]["v"]) if rows else 0


def migrate(store: Store, ttl: timedelta | None = None, target: int = LATEST) -> list[int]:
    """Apply the migrations the store lacks, up to ``target``; returns the versions applied."""
    applied = []
    version = current_version(store)
    for migration in migrations(ttl):
        if migration.version <= version or migration.version > target:
            continue
        for statement in migration.statements:
            store.command(statement)
        if migration.apply is not None:
            migration.apply(store)
        store.command(
            "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
            {"v": migration.version, "n": migration.name},
        )
        applied.append(migration.version)
        log.info(
            "schema migrated",
            version=migration.version,
            name=migration.name,
            store=store.settings.describe(),
        )
    return applied
