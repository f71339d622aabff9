"""Checks every registered component type passes: the same lifecycle for all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collector.cli.components import builtin_registry
from collector.component import ComponentID, Factory, Kind
from exporters.clickhouse import ClickHouseExporterConfig
from tests.doubles import RecordingExporter, RecordingExporterConfig

FACTORIES = [f for kind in Kind for f in builtin_registry().factories(kind)]


def minimal_config(factory: Factory, tmp_path: Path) -> dict[str, Any]:
    """The least config each type needs; a new type must be added here."""
    needs: dict[str, dict[str, Any]] = {
        "apikeys": {"keys_file": str(tmp_path / "keys.json")},
        "file": {"path": str(tmp_path / "out.jsonl")},
        "clickhouse": {"endpoint": f"chdb://{tmp_path / 'store'}"},
        "sessions_api": {"endpoint": "127.0.0.1:0"},
        "health_check": {"endpoint": "127.0.0.1:0"},
        "memory_limiter": {"limit_mib": 4096},
    }
    return needs.get(factory.type, {})


def build(factory: Factory, tmp_path: Path) -> Any:
    config = factory.config_model.model_validate(minimal_config(factory, tmp_path))
    cid = ComponentID(factory.type)
    if factory.kind in (Kind.RECEIVER, Kind.PROCESSOR):
        sink = RecordingExporter(ComponentID("recording", "sink"), RecordingExporterConfig())
        return factory.create(cid, config, sink)
    return factory.create(cid, config)


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f"{f.kind.singular}-{f.type}")
async def test_shutdown_without_start_is_safe(factory: Factory, tmp_path: Path) -> None:
    """A component that never started shuts down quietly, twice."""
    component = build(factory, tmp_path)
    await component.shutdown()
    await component.shutdown()


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f"{f.kind.singular}-{f.type}")
async def test_start_then_shutdown_twice_is_safe(factory: Factory, tmp_path: Path) -> None:
    """Started with its minimal config, a component stops cleanly, and again."""

    class Host:
        def get_extension(self, component_id: ComponentID) -> object | None:
            return None

        def component_health(self) -> dict[str, float | None]:
            return {}

        def component_config(self, kind: Kind, component_id: ComponentID) -> object | None:
            store = {"endpoint": f"chdb://{tmp_path / 'store'}"}
            return ClickHouseExporterConfig.model_validate(store)

    component = build(factory, tmp_path)
    config = factory.config_model.model_validate(minimal_config(factory, tmp_path))
    if factory.kind is Kind.RECEIVER:
        config = config.model_copy(update={"endpoint": "127.0.0.1:0"})
        component = factory.create(ComponentID(factory.type), config, component.next_consumer)
    await component.start(Host())
    await component.shutdown()
    await component.shutdown()


@pytest.mark.parametrize(
    "factory",
    [f for f in FACTORIES if f.kind in (Kind.PROCESSOR, Kind.EXPORTER)],
    ids=lambda f: f"{f.kind.singular}-{f.type}",
)
async def test_consumers_declare_whether_they_change_data(factory: Factory, tmp_path: Path) -> None:
    """Every processor and exporter says whether it changes data (fan-outs copy for it)."""
    component = build(factory, tmp_path)
    assert isinstance(component.mutates_data, bool)
    assert callable(component.consume)
