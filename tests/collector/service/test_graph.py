"""Pipelines as the graph wires them: fan-out, copies for processors that change data,
error merging, and start/stop order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from collector.consumererror import (
    OverloadError,
    PartialRejection,
    PermanentError,
    RetryableError,
)
from collector.service.graph import merge_errors
from tests.conftest import StartCollector, base_config

JSON = {"Content-Type": "application/json"}


def two_pipelines(keys_file: Path, tmp_path: Path) -> dict[str, Any]:
    """otlp feeds logs/tagged (tagging -> recording/a) and logs/plain (-> recording/b, file)."""
    cfg = base_config(keys_file)
    cfg["processors"] = {"tagging": {}}
    cfg["exporters"] = {
        "recording/a": {},
        "recording/b": {},
        "file": {"path": str(tmp_path / "out.jsonl")},
    }
    cfg["service"]["pipelines"] = {
        "logs/tagged": {"receivers": ["otlp"], "processors": ["tagging"],
                        "exporters": ["recording/a"]},
        "logs/plain": {"receivers": ["otlp"], "exporters": ["recording/b", "file"]},
    }  # fmt: skip
    return cfg


async def test_one_receiver_feeds_every_pipeline_and_every_exporter(
    start_collector: StartCollector,
    keys_file: Path,
    tmp_path: Path,
    org_key: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """A request reaches every exporter of every pipeline that lists the receiver."""
    running = await start_collector(two_pipelines(keys_file, tmp_path))
    headers = {**JSON, "Authorization": f"Bearer {org_key}"}
    resp = await client.post(running.url + "/v1/logs", content=sample_json, headers=headers)
    assert resp.status_code == 200
    assert len(running.exporter("recording/a").records) == 6
    assert len(running.exporter("recording/b").records) == 6
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert len(lines) == 1


async def test_a_processor_that_changes_data_does_not_leak_into_other_pipelines(
    start_collector: StartCollector,
    keys_file: Path,
    tmp_path: Path,
    org_key: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """The tagging processor's attribute shows in its own pipeline only."""
    running = await start_collector(two_pipelines(keys_file, tmp_path))
    headers = {**JSON, "Authorization": f"Bearer {org_key}"}
    await client.post(running.url + "/v1/logs", content=sample_json, headers=headers)
    tagged = running.exporter("recording/a").batches[0].records
    plain = running.exporter("recording/b").batches[0].records
    assert all(r.attributes.get("tagged") == "yes" for r in tagged)
    assert all("tagged" not in r.attributes for r in plain)
    doc = orjson.loads((tmp_path / "out.jsonl").read_bytes())
    keys = {a["key"] for a in doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]}
    assert "tagged" not in keys


async def test_one_failing_exporter_fails_the_request(
    start_collector: StartCollector,
    keys_file: Path,
    tmp_path: Path,
    org_key: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """A fan-out succeeds only if all branches do: one unavailable exporter means 503."""
    running = await start_collector(two_pipelines(keys_file, tmp_path))
    running.exporter("recording/b").fail_with = "retryable"
    headers = {**JSON, "Authorization": f"Bearer {org_key}"}
    resp = await client.post(running.url + "/v1/logs", content=sample_json, headers=headers)
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "7"


async def test_exporters_start_first_and_stop_last(
    start_collector: StartCollector, keys_file: Path
) -> None:
    """Exporters are started before the receiver and shut down after it."""
    running = await start_collector(base_config(keys_file))
    exporter = running.exporter()
    receiver = next(iter(running.service.receivers.values()))
    assert exporter.events == ["start"]
    assert receiver.address is not None  # the receiver listened after the exporter started
    await running.service.shutdown()
    assert exporter.events == ["start", "shutdown"]
    assert receiver._runner is None


async def test_shutdown_is_safe_twice(start_collector: StartCollector, keys_file: Path) -> None:
    """A second shutdown does nothing and raises nothing."""
    running = await start_collector(base_config(keys_file))
    assert await running.service.shutdown() == []
    assert await running.service.shutdown() == []
    assert running.exporter().events == ["start", "shutdown"]


@pytest.mark.parametrize(
    ("errors", "expected", "detail"),
    [
        ([RetryableError("a", retry_after=3), PermanentError("b")], RetryableError, 3),
        ([OverloadError("a", retry_after=2), OverloadError("b", retry_after=5)], OverloadError, 5),
        ([OverloadError("a"), RetryableError("b", retry_after=4)], RetryableError, 4),
        ([PartialRejection(2, "a"), PartialRejection(3, "b")], PartialRejection, 3),
        ([PartialRejection(2, "a"), PermanentError("b")], PermanentError, None),
    ],
)
def test_branch_errors_merge_into_the_most_retryable_kind(
    errors: list[BaseException], expected: type[Exception], detail: float | None
) -> None:
    """Retryable beats permanent; overload only if every retryable branch is overloaded."""
    merged = merge_errors(errors)
    assert type(merged) is expected
    if isinstance(merged, RetryableError):
        assert merged.retry_after == detail
    if isinstance(merged, PartialRejection):
        assert merged.rejected == detail
    assert "a" in str(merged) and "b" in str(merged)
