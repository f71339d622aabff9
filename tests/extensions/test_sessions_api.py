"""The sessions API over HTTP: org keys with sessions_read, one org's sessions each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from collector.component import ComponentID
from tests.conftest import RunningCollector, StartCollector, storage_config

SESSION = "1ddae8b2-80dd-4b49-a5a9-be58ef748593"


@pytest.fixture
async def running(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    store_endpoint: dict[str, Any],
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> RunningCollector:
    """A storage collector that has received the sample from org acme."""
    running = await start_collector(storage_config(keys_file, store_endpoint))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {org_key}"}
    resp = await client.post(running.url + "/v1/logs", content=sample_json, headers=headers)
    assert resp.status_code == 200
    return running


def api(running: RunningCollector) -> str:
    ext = running.service.extensions[ComponentID("sessions_api")]
    return f"http://{ext.address}/api/v1/sessions"  # type: ignore[attr-defined]


async def test_a_reader_lists_its_orgs_sessions(
    running: RunningCollector, client: httpx.AsyncClient
) -> None:
    """GET /api/v1/sessions with a sessions_read key returns the org's sessions."""
    key = await running.key(roles=("sessions_read",))
    resp = await client.get(api(running), headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200
    (session,) = resp.json()["sessions"]
    assert session["session_id"] == SESSION
    assert (session["prompts"], session["api_requests"], session["tool_calls"]) == (1, 2, 1)
    assert (session["input_tokens"], session["cost_usd"]) == (2400, 0.01875)
    assert session["first_seen"] == "2026-11-26T20:08:18.629Z"


async def test_one_session_and_its_prompts(
    running: RunningCollector, client: httpx.AsyncClient
) -> None:
    """GET /sessions/{id} and /sessions/{id}/prompts give the session and its prompts."""
    key = await running.key(roles=("sessions_read",))
    headers = {"Authorization": f"Bearer {key}"}
    resp = await client.get(f"{api(running)}/{SESSION}", headers=headers)
    assert resp.status_code == 200
    assert resp.json()["title"] == "list the files here"
    resp = await client.get(f"{api(running)}/{SESSION}/prompts", headers=headers)
    assert resp.status_code == 200
    (prompt,) = resp.json()["prompts"]
    assert (prompt["text"], prompt["length"], prompt["duration_ms"]) == (
        "list the files here",
        19,
        162,
    )


async def test_another_orgs_key_sees_nothing(
    running: RunningCollector, client: httpx.AsyncClient
) -> None:
    """A key of another org gets an empty list and 404 for the session and its prompts."""
    key = await running.key(org="globex", roles=("sessions_read",))
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.get(api(running), headers=headers)).json() == {"sessions": []}
    assert (await client.get(f"{api(running)}/{SESSION}", headers=headers)).status_code == 404
    resp = await client.get(f"{api(running)}/{SESSION}/prompts", headers=headers)
    assert resp.status_code == 404


@pytest.mark.parametrize(
    ("kind", "status"),
    [("none", 401), ("ingest-only", 403), ("personal", 403), ("unknown", 401)],
)
async def test_readers_need_an_org_key_with_sessions_read(
    running: RunningCollector, client: httpx.AsyncClient, kind: str, status: int
) -> None:
    """No key or an unknown key is 401; an ingest-only or personal key is 403."""
    headers = {}
    if kind == "ingest-only":
        headers["Authorization"] = f"Bearer {await running.key()}"
    elif kind == "personal":
        key = await running.key(roles=("sessions_read",), personal=True, user="a@b.c")
        headers["Authorization"] = f"Bearer {key}"
    elif kind == "unknown":
        headers["Authorization"] = "Bearer sck_0000000000000000_nope"
    resp = await client.get(api(running), headers=headers)
    assert resp.status_code == status
    assert "error" in orjson.loads(resp.content)


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("client=Claude%20Code", 1),
        ("client=Claude%20Cowork", 0),
        ("user=4fc0363098d6f5edd25b2e964b9295963ee80f040b1b28e81be396a840536e9f", 1),
        ("user=someone@else", 0),
        ("since=2026-11-26T20:00:00Z", 1),
        ("since=2026-11-26T21:00:00Z", 0),
        ("until=2026-11-26T20:00:00Z", 0),
        ("until=2026-11-27", 1),
        ("limit=1", 1),
    ],
)
async def test_filters_narrow_the_list(
    running: RunningCollector, client: httpx.AsyncClient, query: str, found: int
) -> None:
    """client, user, since, until and limit filter the sessions."""
    key = await running.key(roles=("sessions_read",))
    resp = await client.get(f"{api(running)}?{query}", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200
    assert len(resp.json()["sessions"]) == found


@pytest.mark.parametrize("query", ["limit=0", "limit=many", "since=last%20tuesday"])
async def test_bad_parameters_are_400_with_a_reason(
    running: RunningCollector, client: httpx.AsyncClient, query: str
) -> None:
    """An invalid limit or time is 400 naming the parameter."""
    key = await running.key(roles=("sessions_read",))
    resp = await client.get(f"{api(running)}?{query}", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 400
    assert query.split("=")[0] in resp.json()["error"]


async def test_a_sessions_events_come_in_order_with_their_fields(
    running: RunningCollector, client: httpx.AsyncClient
) -> None:
    """GET /sessions/{id}/events: the six events in sequence, each with its typed fields
    and the attributes the timeline shows; another org's key gets 404."""
    key = await running.key(roles=("sessions_read",))
    resp = await client.get(f"{api(running)}/{SESSION}/events",
                            headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert resp.status_code == 200
    events = resp.json()["events"]
    assert [e["event"] for e in events] == [
        "user_prompt", "tool_decision", "api_request", "tool_result", "api_request",
        "assistant_response",
    ]  # fmt: skip
    assert [e["sequence"] for e in events] == [0, 1, 2, 3, 4, 5]
    assert events[0]["prompt"] == "list the files here"
    decision, request, result = events[1], events[2], events[3]
    assert (decision["tool_name"], decision["decision"], decision["source"]) == (
        "Bash", "accept", "config"
    )  # fmt: skip
    assert result["tool_use_id"] == decision["tool_use_id"]
    assert (result["success"], result["duration_ms"]) == (True, 46)
    assert (request["model"], request["input_tokens"], request["cost_usd"]) == (
        "claude-opus-4-8", 1200, 0.009375
    )  # fmt: skip
    assert request["success"] is None and "tool_name" not in request
    other = await running.key(org="globex", roles=("sessions_read",))
    resp = await client.get(f"{api(running)}/{SESSION}/events",
                            headers={"Authorization": f"Bearer {other}"})  # fmt: skip
    assert resp.status_code == 404


async def test_search_and_offset_page_the_list(
    running: RunningCollector, client: httpx.AsyncClient
) -> None:
    """q finds the session by its prompt text (any case) and nothing for other text;
    offset 1 skips the only session."""
    key = await running.key(roles=("sessions_read",))
    headers = {"Authorization": f"Bearer {key}"}

    async def ids(query: str) -> list[str]:
        resp = await client.get(f"{api(running)}?{query}", headers=headers)
        assert resp.status_code == 200, resp.text
        return [s["session_id"] for s in resp.json()["sessions"]]

    assert await ids("q=FILES+HERE") == [SESSION]
    assert await ids("q=quarterly") == []
    assert await ids("offset=1") == []
    assert (await client.get(f"{api(running)}?offset=-1", headers=headers)).status_code == 400


async def test_the_overview_sums_cost_by_client_and_names_the_top_tool(
    running: RunningCollector, client: httpx.AsyncClient
) -> None:
    """GET /overview over the sample's day: one hourly bucket of Claude Code with both
    requests' cost and tokens, the user's cost, Bash as the top tool, the clients present;
    a grouping it does not know is 400."""
    key = await running.key(roles=("sessions_read",))
    headers = {"Authorization": f"Bearer {key}"}
    url = api(running).replace("/sessions", "/overview")
    day = {"since": "2026-11-26T00:00:00Z", "until": "2026-11-27T00:00:00Z"}
    resp = await client.get(url, params=day, headers=headers)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["step_seconds"] == 3600
    bucket = {"bucket": "2026-11-26T20:00:00.000Z", "group": "Claude Code",
              "cost_usd": 0.01875, "input_tokens": 2400, "output_tokens": 84}  # fmt: skip
    assert doc["series"] == [bucket]
    assert [(u["cost_usd"], u["sessions"]) for u in doc["top_users"]] == [(0.01875, 1)]
    assert [(t["tool"], t["calls"], t["failures"]) for t in doc["top_tools"]] == [("Bash", 1, 0)]
    assert doc["clients"] == ["Claude Code"]
    bad = await client.get(url, params={"by": "weather"}, headers=headers)
    assert bad.status_code == 400 and "by must be one of" in bad.json()["error"]


CAPTURE = Path(__file__).parents[1] / "data" / "claude-code-2.1.197-write" / "grpc"
CAPTURE_SESSION = "b1fcb8f4-dd27-4bf9-89d6-7363875428f8"


async def test_a_session_shows_its_claude_code_metrics_and_its_traces(
    start_collector: StartCollector,
    keys_file: Path,
    store_endpoint: dict[str, Any],
    client: httpx.AsyncClient,
) -> None:
    """The gRPC capture's logs, metrics and spans stored: the list gives the session's
    lines, commits, pull requests and active time; GET /sessions/{id} also its trace."""
    from collector.pdata import otlp_proto
    from collector.pdata.records import LogBatch
    from collector.pdata.signals import MetricsBatch, TracesBatch, decode_metrics, decode_traces

    running = await start_collector(storage_config(keys_file, store_endpoint))
    exporter = running.service.exporters[ComponentID("clickhouse")]
    for _ in range(2):  # a redelivery changes nothing
        await exporter.consume(
            LogBatch("acme", otlp_proto.decode_request((CAPTURE / "logs.pb").read_bytes()))
        )
        await exporter.consume(
            MetricsBatch("acme", decode_metrics((CAPTURE / "metrics.pb").read_bytes()))
        )
        await exporter.consume(
            TracesBatch("acme", decode_traces((CAPTURE / "traces.pb").read_bytes()))
        )
    key = await running.key(roles=("sessions_read",))
    headers = {"Authorization": f"Bearer {key}"}
    expected = {
        "lines_added": 3,
        "lines_removed": 0,
        "commits": 0,
        "pull_requests": 0,
        "active_time_s": 0.185,
    }
    (listed,) = (await client.get(api(running), headers=headers)).json()["sessions"]
    assert listed["session_id"] == CAPTURE_SESSION
    assert {k: listed[k] for k in expected} == expected
    assert "traces" not in listed
    resp = await client.get(f"{api(running)}/{CAPTURE_SESSION}", headers=headers)
    assert resp.status_code == 200
    session = resp.json()
    assert {k: session[k] for k in expected} == expected
    assert (session["api_requests"], session["title"]) == (2, "write hello.txt with two lines")
    assert session["traces"] == [
        {
            "trace_id": "83bb0fdbe56566fd6fb20f2f0986d302",
            "spans": 6,
            "root_name": "claude_code.interaction",
            "start": "2026-12-04T10:26:29.653Z",
            "duration_ms": 185.553,
        }
    ]


async def test_a_session_without_metrics_has_zero_figures_and_no_traces(
    running: RunningCollector, client: httpx.AsyncClient
) -> None:
    """The logs-only sample: every metric figure is 0 and its traces are empty."""
    key = await running.key(roles=("sessions_read",))
    resp = await client.get(f"{api(running)}/{SESSION}", headers={"Authorization": f"Bearer {key}"})
    session = resp.json()
    fields = ("lines_added", "lines_removed", "commits", "pull_requests", "active_time_s")
    assert {k: session[k] for k in fields} == dict.fromkeys(fields, 0)
    assert session["traces"] == []
