"""The debug exporter logs a summary per batch."""

from __future__ import annotations

import structlog

from collector.component import ComponentID
from collector.pdata import otlp_json
from collector.pdata.records import LogBatch
from exporters.debug import DebugExporter, DebugExporterConfig


async def test_normal_verbosity_logs_counts_by_event(sample_json: bytes) -> None:
    """One log line with the tenant, the record count and the events seen."""
    exporter = DebugExporter(ComponentID("debug"), DebugExporterConfig(verbosity="normal"))
    with structlog.testing.capture_logs() as logs:
        await exporter.consume(LogBatch("acme", otlp_json.decode_request(sample_json)))
    assert logs == [
        {
            "event": "logs",
            "log_level": "info",
            "component": "debug",
            "tenant": "acme",
            "log_records": 6,
            "events": {
                "claude_code.user_prompt": 1,
                "claude_code.tool_decision": 1,
                "claude_code.api_request": 2,
                "claude_code.tool_result": 1,
                "claude_code.assistant_response": 1,
            },
        }
    ]


async def test_detailed_verbosity_logs_every_record(sample_json: bytes) -> None:
    """With ``detailed``, each record gets its own line after the summary."""
    exporter = DebugExporter(ComponentID("debug"), DebugExporterConfig(verbosity="detailed"))
    with structlog.testing.capture_logs() as logs:
        await exporter.consume(LogBatch("acme", otlp_json.decode_request(sample_json)))
    assert [entry["event"] for entry in logs] == ["logs"] + ["log record"] * 6
    assert logs[1]["attributes"]["prompt"] == "list the files here"
