"""The ClickHouse store of logs, sessions and prompts, metrics and traces, shared by the
``clickhouse`` exporter (writes), the ``sessions_api`` extension and the CLI (reads).

- :mod:`.settings`: where the store is (``chdb://PATH`` embedded, or ``http(s)://``)
- :mod:`.client`: a connection whose blocking calls run off the event loop
- :mod:`.schema`: the versioned schema and its migrations
- :mod:`.rows`: records to ``otel_logs`` columns, in Python
- :mod:`.otel_signals`: data points and spans to the OpenTelemetry Collector's metrics and
  traces tables, in Python
- :mod:`.ingest`, :mod:`.derive`: the fast path, records' protobuf bytes to ``otel_logs``
  columns in ClickHouse
- :mod:`.writer`: one insert at a time, what arrives meanwhile goes together
- :mod:`.errors`: which store errors are the data's fault
- :mod:`.queries`: sessions (with their metric figures and traces) and prompts, always
  filtered by tenant
"""

from collector.sessions.clickhouse.client import Store, StoreLocked
from collector.sessions.clickhouse.settings import ClickHouseSettings

__all__ = ["ClickHouseSettings", "Store", "StoreLocked"]
