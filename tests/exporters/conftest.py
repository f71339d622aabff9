"""What the clickhouse exporter's tests share: a host with nothing in it, and an exporter
started on a fresh store (``store_endpoint``: chDB, or a server with CLICKHOUSE_URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from collector.component import ComponentID
from exporters.clickhouse import ClickHouseExporter, ClickHouseExporterConfig


class NoHost:
    def get_extension(self, component_id: ComponentID) -> object | None:
        return None

    def component_config(self, kind: object, component_id: ComponentID) -> object | None:
        return None


@pytest.fixture
async def exporter(store_endpoint: dict[str, Any]) -> AsyncIterator[ClickHouseExporter]:
    config = ClickHouseExporterConfig.model_validate(store_endpoint)
    exp = ClickHouseExporter(ComponentID("clickhouse"), config)
    await exp.start(NoHost())
    yield exp
    await exp.shutdown()
