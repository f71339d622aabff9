"""The cowork processor derives session and prompt fields and changes nothing else."""

from __future__ import annotations

import copy

import pytest

from collector.component import ComponentID
from collector.pdata import otlp_json
from collector.pdata.records import LogBatch, LogRecord, Resource
from collector.sessions.events import derive, event_of
from processors.cowork import Cowork, CoworkConfig
from tests.doubles import RecordingExporter, RecordingExporterConfig


def record(attributes: dict[str, object], **fields: object) -> LogRecord:
    return LogRecord(attributes=attributes, **fields)  # type: ignore[arg-type]


async def run(records: list[LogRecord]) -> tuple[Cowork, RecordingExporter]:
    sink = RecordingExporter(ComponentID("recording"), RecordingExporterConfig())
    processor = Cowork(ComponentID("cowork"), CoworkConfig(), sink)
    await processor.consume(LogBatch("acme", records))
    return processor, sink


async def test_sample_records_get_their_session_prompt_and_figures(sample_json: bytes) -> None:
    """The captured session's API requests carry tokens, cost and model; all carry ids."""
    records = otlp_json.decode_request(sample_json)
    _, sink = await run(records)
    derived = [event_of(r) for r in sink.batches[0].records]
    assert all(d is not None for d in derived)
    assert [d.event_name for d in derived if d] == [
        "user_prompt", "tool_decision", "api_request", "tool_result", "api_request",
        "assistant_response",
    ]  # fmt: skip
    api = derived[2]
    assert api is not None
    assert (api.input_tokens, api.output_tokens, api.cache_read_tokens) == (1200, 42, 900)
    assert (api.cost_micros, api.model, api.duration_ms) == (9375, "claude-opus-4-8", 34.0)
    assert {d.session_id for d in derived if d} == {"1ddae8b2-80dd-4b49-a5a9-be58ef748593"}
    assert (derived[0] and derived[0].client, derived[0] and derived[0].client_version) == (
        "Claude Code",
        "2.1.197",
    )
    tool = derived[3]
    assert tool is not None and (tool.success, tool.duration_ms, tool.sequence) == (1, 46.0, 3)


async def test_original_attributes_are_kept_as_they_came(sample_json: bytes) -> None:
    """Derivation adds ``derived`` and leaves every attribute and value untouched."""
    records = otlp_json.decode_request(sample_json)
    before = copy.deepcopy([r.attributes for r in records])
    _, sink = await run(records)
    assert [r.attributes for r in sink.batches[0].records] == before


@pytest.mark.parametrize(
    ("fields", "attributes", "expected"),
    [
        ({"event_name": "claude_code.api_error", "body": "claude_code.x"}, {}, "api_error"),
        ({"body": "claude_code.tool_result"}, {"event.name": "other"}, "tool_result"),
        ({"body": "free text"}, {"event.name": "user_prompt"}, "user_prompt"),
        ({}, {"event.name": "claude_code.compaction"}, "compaction"),
        ({}, {}, ""),
    ],
)
def test_event_name_comes_from_event_name_then_body_then_attribute(
    fields: dict[str, object], attributes: dict[str, object], expected: str
) -> None:
    """OTLP eventName wins over the body, which wins over ``event.name``; no prefix kept."""
    assert derive(record(attributes, **fields)).event_name == expected


@pytest.mark.parametrize(
    ("service", "label"),
    [
        ("claude-code", "Claude Code"),
        ("claude-code-desktop", "Claude Code Desktop"),
        ("cowork", "Claude Cowork"),
        ("my-agent", "my-agent"),
    ],
)
def test_client_label_comes_from_service_name(service: str, label: str) -> None:
    """Known service names get their product label; others keep their name."""
    r = record({}, resource=Resource({"service.name": service}))
    assert derive(r).client == label


@pytest.mark.parametrize(
    ("attributes", "field", "value"),
    [
        ({"prompt_length": "19"}, "prompt_length", 19),
        ({"duration_ms": "46"}, "duration_ms", 46.0),
        ({"duration_ms": 34}, "duration_ms", 34.0),
        ({"cost_usd": "0.5"}, "cost_micros", 500000),
        ({"cost_usd": 0.25, "cost_usd_micros": 250001}, "cost_micros", 250001),
        ({"success": "true"}, "success", 1),
        ({"success": False}, "success", 0),
        ({"success": "maybe"}, "success", -1),
        ({"status_code": "undefined"}, "status_code", 0),
        ({"status_code": 529}, "status_code", 529),
        ({"input_tokens": "1.2e3"}, "input_tokens", 1200),
        ({"event.sequence": "7"}, "sequence", 7),
        ({}, "sequence", -1),
    ],
)
def test_numbers_are_parsed_leniently(
    attributes: dict[str, object], field: str, value: object
) -> None:
    """Strings, numbers and junk all give a sensible number (junk gives the default)."""
    assert getattr(derive(record(attributes)), field) == value


def test_event_time_prefers_event_timestamp_then_record_then_observed_time() -> None:
    """``event.timestamp`` wins; else the record time; else the observed time."""
    stamp = {"event.timestamp": "2026-11-26T20:08:18.629Z"}
    assert derive(record(stamp, time_unix_nano=5)).time_unix_nano == 1795723698629000000
    assert derive(record({}, time_unix_nano=5, observed_time_unix_nano=9)).time_unix_nano == 5
    assert derive(record({}, observed_time_unix_nano=9)).time_unix_nano == 9
    assert derive(record({"event.timestamp": "yesterday"}, time_unix_nano=5)).time_unix_nano == 5


async def test_unknown_events_and_sessionless_records_pass_through_and_are_counted() -> None:
    """A new event passes untouched; records without session.id are counted, not dropped."""
    novel = record({"event.name": "brand_new", "x": [1, {"y": b"z"}]})
    other = record({"session.id": "s1", "event.name": "hook_registered"})
    processor, sink = await run([novel, other])
    assert sink.batches[0].records == [novel, other]
    assert novel.attributes == {"event.name": "brand_new", "x": [1, {"y": b"z"}]}
    assert processor.records_without_session == 1
    assert processor.events == {"brand_new": 1, "hook_registered": 1}


async def test_event_names_from_senders_are_counted_in_bounded_memory() -> None:
    """Past EVENT_MEMORY distinct names, further new names are counted as "other"."""
    from processors import cowork

    names = [f"made_up_{i}" for i in range(cowork.EVENT_MEMORY + 50)]
    processor, _ = await run([record({"event.name": n, "session.id": "s"}) for n in names])
    assert len(processor.events) == cowork.EVENT_MEMORY + 1
    assert processor.events["other"] == 50
    assert sum(processor.events.values()) == len(names)
