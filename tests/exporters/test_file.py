"""The file exporter writes one OTLP/JSON line per batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from collector.component import ComponentID
from collector.consumererror import RetryableError
from collector.pdata import otlp_json
from collector.pdata.records import LogBatch
from exporters.file import FileExporter, FileExporterConfig


class NoHost:
    def get_extension(self, component_id: ComponentID) -> object | None:
        return None


@pytest.mark.parametrize("fsync", [False, True])
async def test_each_batch_is_one_replayable_line(
    tmp_path: Path, sample_json: bytes, fsync: bool
) -> None:
    """Concurrent batches become whole lines that decode back into their records."""
    path = tmp_path / "sub" / "out.jsonl"
    exporter = FileExporter(ComponentID("file"), FileExporterConfig(path=str(path), fsync=fsync))
    await exporter.start(NoHost())
    records = otlp_json.decode_request(sample_json)
    await asyncio.gather(*(exporter.consume(LogBatch("acme", records)) for _ in range(20)))
    await exporter.shutdown()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 20
    for line in lines:
        assert len(otlp_json.decode_request(line)) == 6
    assert orjson.loads(lines[0])["resourceLogs"][0]["resource"]["attributes"][3] == {
        "key": "service.name",
        "value": {"stringValue": "claude-code"},
    }


async def test_writing_after_shutdown_is_a_retryable_error(tmp_path: Path) -> None:
    """A stopped exporter refuses batches with a retryable error, never silently."""
    exporter = FileExporter(ComponentID("file"), FileExporterConfig(path=str(tmp_path / "x")))
    await exporter.start(NoHost())
    await exporter.shutdown()
    with pytest.raises(RetryableError):
        await exporter.consume(LogBatch("acme", []))
