"""The sessions console in a real browser (Debian's chromium, driven by Playwright), against a
real storage collector on loopback holding the captured Claude Code session of
``tests/data``, whose first prompt carries an API key the redaction processor masks, and a
Cowork session beside it.

Screenshots of the list and of a session go to ``test-artifacts/`` (``ARTIFACTS_DIR``)."""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from collector.auth import keystore
from collector.component import ComponentID
from tests.conftest import RunningCollector, StartCollector

SESSION = "1ddae8b2-80dd-4b49-a5a9-be58ef748593"
COWORK_SESSION = "c0c0c0c0-0000-4000-8000-00000000c0c0"
SECRET = "sk-ant-api03-" + "Zx9_" * 10
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", Path(__file__).parents[2] / "test-artifacts"))


def chromium_path() -> str:
    """Debian's chromium: Playwright cannot download its own browser here. Missing is a
    failure, not a skip (``make test`` installs it)."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).exists(), "chromium is not installed: apt-get install chromium"
    return path


def console_config(keys_file: Path, store: dict[str, Any]) -> dict[str, Any]:
    """otlp (apikeys) -> cowork -> redaction -> batch -> clickhouse, sessions_api with its
    console."""
    return {
        "extensions": {
            "apikeys": {"keys_file": str(keys_file), "reload_interval": "50ms"},
            "sessions_api": {"endpoint": "127.0.0.1:0", "auth": "apikeys"},
        },
        "receivers": {"otlp": {"endpoint": "127.0.0.1:0", "auth": "apikeys"}},
        "processors": {"cowork": {}, "redaction": {}, "batch": {"timeout": "20ms"}},
        "exporters": {"clickhouse": {**store, "retry_on_failure": {"enabled": False}}},
        "service": {
            "extensions": ["apikeys", "sessions_api"],
            "pipelines": {
                "logs": {
                    "receivers": ["otlp"],
                    "processors": ["cowork", "redaction", "batch"],
                    "exporters": ["clickhouse"],
                }
            },
        },
    }


def _attr(record: dict[str, Any], key: str, value: dict[str, Any]) -> None:
    record["attributes"] = [a for a in record["attributes"] if a["key"] != key]
    record["attributes"].append({"key": key, "value": value})


def recent(doc: dict[str, Any]) -> dict[str, Any]:
    """The sample moved to the last minutes (the console shows the last 24 hours first),
    its records as far apart as they were."""
    records = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    shift = time.time_ns() - 120 * 10**9 - int(records[0]["timeUnixNano"])
    for record in records:
        for field in ("timeUnixNano", "observedTimeUnixNano"):
            if field in record:
                record[field] = str(int(record[field]) + shift)
        for a in record["attributes"]:
            if a["key"] == "event.timestamp":
                at = datetime.fromisoformat(a["value"]["stringValue"].replace("Z", "+00:00"))
                moved = at + timedelta(microseconds=shift // 1000)
                a["value"]["stringValue"] = moved.isoformat(timespec="milliseconds")
    return doc


def with_secret(sample: bytes) -> bytes:
    """The sample, its first prompt holding an API key."""
    doc = recent(orjson.loads(sample))
    first = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    _attr(first, "prompt", {"stringValue": f"list the files here, key {SECRET}"})
    return orjson.dumps(doc)


def as_cowork(sample: bytes) -> bytes:
    """The sample as a Cowork session of another user, with another prompt."""
    doc = recent(copy.deepcopy(orjson.loads(sample)))
    resource = doc["resourceLogs"][0]["resource"]
    _attr(resource, "service.name", {"stringValue": "cowork"})
    for record in doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        _attr(record, "session.id", {"stringValue": COWORK_SESSION})
        _attr(record, "user.email", {"stringValue": "ada@example.com"})
        if any(a["key"] == "prompt" for a in record["attributes"]):
            _attr(record, "prompt", {"stringValue": "summarise the quarterly report"})
    return orjson.dumps(doc)


class Console:
    def __init__(self, running: RunningCollector, keys: dict[str, str]) -> None:
        self.running = running
        self.keys = keys
        ext = running.service.extensions[ComponentID("sessions_api")]
        self.url = f"http://{ext.address}"  # type: ignore[attr-defined]


@pytest.fixture
async def console(
    start_collector: StartCollector,
    keys_file: Path,
    store_endpoint: dict[str, Any],
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> Console:
    """A storage collector with the console, holding org acme's two sessions, and keys:
    acme's reader, acme's ingest-only key, acme's personal reader, globex's reader."""

    def key(org: str, roles: list[str], **kw: Any) -> str:
        return keystore.create(keys_file, org=org, name="t", roles=roles, **kw)[1]

    keys = {
        "ingest": key("acme", ["mcp_watch_scan"]),
        "reader": key("acme", ["sessions_read"]),
        "personal": key("acme", ["sessions_read"], personal=True, user="dev@example.com"),
        "other_org": key("globex", ["sessions_read"]),
    }
    running = await start_collector(console_config(keys_file, store_endpoint))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {keys['ingest']}"}
    for body in (with_secret(sample_json), as_cowork(sample_json)):
        resp = await client.post(running.url + "/v1/logs", content=body, headers=headers)
        assert resp.status_code == 200
    exporter = running.service.exporters[ComponentID("clickhouse")]
    store = exporter.store  # type: ignore[attr-defined]
    for _ in range(200):  # the batch processor hands them on within its timeout
        rows = await store.call(store.query, "SELECT uniqExact(SessionId) AS n FROM otel_logs")
        if rows[0]["n"] == 2:
            break
        await asyncio.sleep(0.05)
    return Console(running, keys)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page; the test fails if the console logs an error or throws."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # a refused sign-in (401, 403) or a session of another org (404): the browser logs
        # answers the page expects and shows
        expected = any(f"status of {code}" in message.text for code in (401, 403, 404))
        if message.type == "error" and not expected:
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    await context.close()
    assert errors == [], errors


async def sign_in(page: Page, console: Console, key: str) -> None:
    await page.goto(console.url + "/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_wrong_key_shows_the_error_and_no_data(page: Page, console: Console) -> None:
    """An unknown key: "invalid API key", the sign-in form stays, no session is shown."""
    await sign_in(page, console, "sck_not_a_real_key")
    await expect(page.get_by_role("alert").first).to_have_text("invalid API key")
    await expect(page.get_by_label("API key")).to_be_visible()
    await expect(page.get_by_role("link", name="list the files here")).to_have_count(0)


@pytest.mark.parametrize("which", ["ingest", "personal"])
async def test_a_key_that_cannot_read_sessions_is_told_so(
    page: Page, console: Console, which: str
) -> None:
    """A key without sessions_read, or a personal key: "this key cannot read sessions"."""
    await sign_in(page, console, console.keys[which])
    await expect(page.get_by_role("alert").first).to_have_text("this key cannot read sessions")
    await expect(page.get_by_role("table")).to_have_count(0)


async def test_a_read_key_shows_the_list_with_the_secret_masked(
    page: Page, console: Console
) -> None:
    """The reader's list: both sessions with their client, user and cost, newest first;
    the first prompt's key shows masked and appears nowhere in the page; the key itself is
    not in the URL or the page's storage, and the cookie is HttpOnly and SameSite=Strict."""
    await sign_in(page, console, console.keys["reader"])
    rows = page.locator("#sessions tbody tr")
    await expect(rows).to_have_count(2)
    code = rows.filter(has_text="Claude Code")
    await expect(code).to_contain_text("list the files here, key [REDACTED:anthropic_api_key]")
    await expect(code).to_contain_text("$0.01875")
    await expect(rows.filter(has_text="Claude Cowork")).to_contain_text("ada@example.com")
    await expect(page.locator("#totals")).to_contain_text("$0.0375")
    assert SECRET not in await page.content()
    assert console.keys["reader"] not in page.url
    assert await page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    (cookie,) = await page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert console.keys["reader"] not in cookie["value"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-sessions.png"), full_page=True)


async def test_the_client_filter_narrows_the_list_and_lives_in_the_url(
    page: Page, console: Console
) -> None:
    """Choosing Claude Cowork leaves its session only; the filtered URL, opened anew,
    shows the same."""
    await sign_in(page, console, console.keys["reader"])
    await expect(page.locator("#sessions tbody tr")).to_have_count(2)
    await page.get_by_label("Client", exact=True).select_option("Claude Cowork")
    rows = page.locator("#sessions tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("summarise the quarterly report")
    assert "client=Claude+Cowork" in page.url
    await page.goto(page.url)
    await expect(page.locator("#sessions tbody tr")).to_have_count(1)
    await expect(page.get_by_label("Client", exact=True)).to_have_value("Claude Cowork")


@pytest.mark.parametrize("window", ["Last hour", "Last 7 days", "Last 30 days"])
async def test_every_time_window_shows_the_sessions_within_it(
    page: Page, console: Console, window: str
) -> None:
    """The sessions of the last minutes are in every preset window, which the URL keeps."""
    await sign_in(page, console, console.keys["reader"])
    await expect(page.locator("#sessions tbody tr")).to_have_count(2)
    await page.get_by_label("Time window").select_option(label=window)
    await expect(page.locator("#refreshed")).to_contain_text("Updated")
    await expect(page.locator("#sessions tbody tr")).to_have_count(2)
    await expect(page.locator("#status")).to_have_text("")
    assert "window=" in page.url


async def test_the_list_fits_a_narrow_screen_and_works_from_the_keyboard(
    page: Page, console: Console
) -> None:
    """On a 375-pixel-wide screen: signed in with the keyboard alone (the key field has the
    focus, Enter submits), the page does not scroll sideways (the table scrolls inside its
    own box), and Tab leads to a session, which Enter opens."""
    await page.set_viewport_size({"width": 375, "height": 800})
    await page.goto(console.url + "/")
    await expect(page.get_by_label("API key")).to_be_focused()
    await page.keyboard.type(console.keys["reader"])
    await page.keyboard.press("Enter")
    await expect(page.locator("#sessions tbody tr")).to_have_count(2)
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375
    for _ in range(40):  # through the filters and the overview to the first session
        await page.keyboard.press("Tab")
        focused = await page.evaluate("() => document.activeElement.textContent")
        if focused.startswith("summarise the quarterly report"):
            break
    else:
        raise AssertionError("Tab never reached the first session's link")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "summarise the quarterly report"
    )


async def test_search_finds_a_session_by_its_prompt_text(page: Page, console: Console) -> None:
    await sign_in(page, console, console.keys["reader"])
    await page.get_by_label("Search").fill("quarterly")
    rows = page.locator("#sessions tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("Claude Cowork")


async def test_the_detail_page_shows_the_prompt_the_tool_call_the_requests_and_the_cost(
    page: Page, console: Console
) -> None:
    """The session's page: its figures, the (masked) prompt, the Bash call accepted and
    succeeded in 46 ms with its parameters folded, both API requests with model, tokens
    and cost, and the response; a deep link opens it directly."""
    await sign_in(page, console, console.keys["reader"])
    await page.get_by_role("link", name="list the files here").click()
    await expect(page).to_have_url(f"{console.url}/sessions/{SESSION}")
    await expect(page.locator("#figures")).to_contain_text("$0.01875")
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("list the files here, key [REDACTED:anthropic_api_key]")
    tool = timeline.locator(".event").filter(has_text="Bash")
    await expect(tool).to_contain_text("accepted (config)")
    await expect(tool).to_contain_text("succeeded in 46 ms")
    await expect(tool.locator("pre")).to_be_hidden()
    await tool.get_by_text("Parameters").click()
    await expect(tool.locator("pre")).to_contain_text('"bash_command": "ls"')
    requests = timeline.locator(".event").filter(has_text="API request")
    await expect(requests).to_have_count(2)
    await expect(requests.first).to_contain_text("claude-opus-4-8")
    await expect(requests.first).to_contain_text("1,200 in · 42 out")
    await expect(requests.first).to_contain_text("$0.009375")
    await expect(timeline).to_contain_text("Done. The directory listing is above.")
    assert SECRET not in await page.content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-session.png"), full_page=True)
    await page.goto(f"{console.url}/sessions/{SESSION}")
    await expect(page.locator("#timeline .event").filter(has_text="Bash")).to_have_count(1)


async def test_another_orgs_key_sees_none_of_it(page: Page, console: Console) -> None:
    """globex's reader: an empty list, and acme's session by its link is no such session."""
    await sign_in(page, console, console.keys["other_org"])
    await expect(page.locator("#sessions tbody")).to_contain_text("No sessions match")
    await page.goto(f"{console.url}/sessions/{SESSION}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("No such session")
    assert "list the files" not in await page.content()


async def test_sign_out_ends_access(page: Page, console: Console) -> None:
    """After Sign out the page asks for a key again and the API answers 401 to the
    browser, even for the old cookie."""
    await sign_in(page, console, console.keys["reader"])
    await expect(page.locator("#sessions tbody tr")).to_have_count(2)
    (old,) = await page.context.cookies()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key")).to_be_visible()
    status = await page.evaluate("() => fetch('/api/v1/sessions').then(r => r.status)")
    assert status == 401
    async with httpx.AsyncClient(cookies={old["name"]: old["value"]}) as http:
        resp = await http.get(console.url + "/api/v1/sessions")
    assert resp.status_code == 401


async def test_a_revoked_key_ends_its_console_sessions(
    page: Page, console: Console, keys_file: Path
) -> None:
    """Revoking the key in the keys file ends the signed-in console at the next reload of
    the file: the page shows the sign-in form again."""
    await sign_in(page, console, console.keys["reader"])
    await expect(page.locator("#sessions tbody tr")).to_have_count(2)
    key_id = keystore.key_id_of(console.keys["reader"])
    assert key_id is not None
    keystore.revoke(keys_file, key_id)
    await page.wait_for_timeout(300)  # reload_interval 50ms
    await page.get_by_label("Client", exact=True).select_option("Claude Cowork")  # a new request
    await expect(page.get_by_label("API key")).to_be_visible()


def without_prompt_text(sample: bytes, session_id: str) -> bytes:
    """The sample as another session whose prompt's text was not sent (Claude Code sends
    it only with OTEL_LOG_USER_PROMPTS=1)."""
    doc = recent(copy.deepcopy(orjson.loads(sample)))
    for record in doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        _attr(record, "session.id", {"stringValue": session_id})
        record["attributes"] = [a for a in record["attributes"] if a["key"] != "prompt"]
    return orjson.dumps(doc)


async def test_a_new_session_appears_while_the_page_is_open_keeping_the_filters(
    page: Page, console: Console, client: httpx.AsyncClient, sample_json: bytes
) -> None:
    """With the Claude Code filter chosen, a session that arrives later shows up within the
    refresh interval, and the filter is still chosen; its page says its prompt's text was
    not recorded."""
    await sign_in(page, console, console.keys["reader"])
    await page.get_by_label("Client", exact=True).select_option("Claude Code")
    rows = page.locator("#sessions tbody tr")
    await expect(rows).to_have_count(1)
    late = "1a7e1a7e-0000-4000-8000-00000000a7e1"
    headers = {"Content-Type": "application/json",
               "Authorization": f"Bearer {console.keys['ingest']}"}  # fmt: skip
    body = without_prompt_text(sample_json, late)
    resp = await client.post(console.running.url + "/v1/logs", content=body, headers=headers)
    assert resp.status_code == 200
    await expect(rows).to_have_count(2, timeout=20_000)
    await expect(page.get_by_label("Client", exact=True)).to_have_value("Claude Code")
    await page.locator(f'a[href="/sessions/{late}"]').click()
    await expect(page.locator("#timeline")).to_contain_text("The prompt's text was not recorded.")


async def test_download_json_saves_the_session_with_its_events(
    page: Page, console: Console, tmp_path: Path
) -> None:
    await sign_in(page, console, console.keys["reader"])
    await page.get_by_role("link", name="list the files here").click()
    await expect(page.locator("#timeline .event")).not_to_have_count(0)
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download JSON").click()
    download = await info.value
    assert download.suggested_filename == f"session-{SESSION}.json"
    saved = tmp_path / "session.json"
    await download.save_as(saved)
    doc = orjson.loads(saved.read_bytes())
    assert doc["session"]["session_id"] == SESSION
    assert [e["event"] for e in doc["events"]][:2] == ["user_prompt", "tool_decision"]
    assert SECRET not in saved.read_text()


def as_session(items: list[Any], attributes: Any) -> list[Any]:
    """Captured data points or spans moved to the console's session (their ``session.id``)."""
    for item in items:
        for kv in attributes(item):
            if kv.key == "session.id":
                kv.value.string_value = SESSION
    return items


async def test_the_detail_page_shows_the_sessions_lines_active_time_and_trace(
    page: Page, console: Console
) -> None:
    """With the gRPC capture's metrics and spans stored under the session: its figures show
    3 lines added, 0 removed, no commits or pull requests and 185 ms active, and its trace
    of six spans under claude_code.interaction."""
    from collector.pdata.signals import MetricsBatch, TracesBatch, decode_metrics, decode_traces

    capture = Path(__file__).parents[1] / "data" / "claude-code-2.1.197-write" / "grpc"
    points = decode_metrics((capture / "metrics.pb").read_bytes())
    spans = decode_traces((capture / "traces.pb").read_bytes())
    exporter = console.running.service.exporters[ComponentID("clickhouse")]
    await exporter.consume(MetricsBatch("acme", as_session(points, lambda p: p.pb.attributes)))
    await exporter.consume(TracesBatch("acme", as_session(spans, lambda s: s.pb.attributes)))
    await sign_in(page, console, console.keys["reader"])
    await page.goto(f"{console.url}/sessions/{SESSION}")
    figures = page.locator("#figures")
    for name, value in [("Lines added", "3"), ("Lines removed", "0"), ("Commits", "0"),
                        ("Pull requests", "0"), ("Active time", "185 ms")]:  # fmt: skip
        await expect(figures.locator("div").filter(has=page.get_by_text(name, exact=True))
                     ).to_contain_text(value)  # fmt: skip
    traces = page.get_by_role("region", name="Traces")
    await expect(traces.locator("li")).to_have_count(1)
    await expect(traces).to_contain_text("claude_code.interaction · 6 spans")
    await expect(traces).to_contain_text("83bb0fdbe56566fd6fb20f2f0986d302")
