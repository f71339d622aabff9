"""What an operator watches: Prometheus metrics, the health check, memory limiting."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from collector.component import ComponentID
from tests.conftest import RunningCollector, StartCollector, base_config

JSON = {"Content-Type": "application/json"}


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        sample, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


async def scrape(running: RunningCollector, client: httpx.AsyncClient) -> str:
    resp = await client.get(f"http://{running.service.metrics_address}/metrics")
    assert resp.status_code == 200
    return resp.text


async def test_metrics_count_accepted_records_requests_and_auth_failures(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """After one good and one unauthenticated request, /metrics shows 6 accepted records,
    6 sent by the exporter, requests by path and status, and the auth failure's reason."""
    cfg = base_config(keys_file)
    cfg["receivers"]["otlp/metered"] = cfg["receivers"].pop("otlp")
    cfg["exporters"] = {"debug/metered": {}}
    cfg["service"]["pipelines"]["logs"] = {"receivers": ["otlp/metered"],
                                           "exporters": ["debug/metered"]}  # fmt: skip
    running = await start_collector(cfg)
    before = await scrape(running, client)
    headers = {**JSON, "Authorization": f"Bearer {org_key}"}
    assert (await client.post(running.url + "/v1/logs", content=sample_json,
                              headers=headers)).status_code == 200  # fmt: skip
    assert (await client.post(running.url + "/v1/logs", content=sample_json,
                              headers=JSON)).status_code == 401  # fmt: skip
    after = await scrape(running, client)

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    accepted = "otelcol_receiver_accepted_log_records_total"
    assert delta(accepted, receiver="otlp/metered", transport="http") == 6
    assert delta("otelcol_exporter_sent_log_records_total", exporter="debug/metered") == 6
    requests = "session_collector_http_requests_total"
    assert delta(requests, receiver="otlp/metered", path="/v1/logs", status="200") == 1
    assert delta(requests, receiver="otlp/metered", path="/v1/logs", status="401") == 1
    auth = "session_collector_auth_failures_total"
    assert delta(auth, component="otlp/metered", reason="missing") == 1


async def test_metrics_count_events_by_name_and_client(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """The cowork processor counts records per event name and client, and new sessions."""
    cfg = base_config(keys_file)
    cfg["processors"] = {"cowork/metered": {}}
    cfg["service"]["pipelines"]["logs"]["processors"] = ["cowork/metered"]
    running = await start_collector(cfg)
    headers = {**JSON, "Authorization": f"Bearer {org_key}"}
    for _ in range(2):
        await client.post(running.url + "/v1/logs", content=sample_json, headers=headers)
    text = await scrape(running, client)
    by_event = "session_collector_log_records_by_event_total"
    labels = {"processor": "cowork/metered", "client": "Claude Code"}
    assert metric(text, by_event, event="api_request", **labels) == 4
    assert metric(text, by_event, event="user_prompt", **labels) == 2
    assert metric(text, "session_collector_sessions_seen_total", processor="cowork/metered") == 1


async def test_health_is_200_while_exporters_deliver_and_503_naming_a_failing_one(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """A Kafka exporter that cannot reach its broker turns the health check to 503 with
    its name; before that it is 200."""
    cfg = base_config(keys_file)
    cfg["extensions"]["health_check"] = {"endpoint": "127.0.0.1:0",
                                         "exporter_failure_threshold": "0s"}  # fmt: skip
    cfg["service"]["extensions"].append("health_check")
    cfg["exporters"] = {"kafka/down": {"brokers": ["127.0.0.1:9"], "timeout": "500ms",
                                       "retry_on_failure": {"enabled": False}}}  # fmt: skip
    cfg["service"]["pipelines"]["logs"]["exporters"] = ["kafka/down"]
    running = await start_collector(cfg)
    health = running.service.extensions[ComponentID("health_check")]
    url = f"http://{health.address}/"  # type: ignore[attr-defined]
    resp = await client.get(url)
    assert (resp.status_code, resp.json()["status"]) == (200, "available")
    headers = {**JSON, "Authorization": f"Bearer {org_key}"}
    resp = await client.post(running.url + "/v1/logs", content=sample_json, headers=headers)
    assert resp.status_code == 503
    resp = await client.get(url)
    assert resp.status_code == 503
    assert "exporter kafka/down" in resp.json()["failing"]


async def test_memory_limiter_refuses_with_429_and_counts_it(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """Above its limit (here: any real process is), the limiter refuses with 429 and
    Retry-After, the exporter gets nothing, and the refusal is counted."""
    cfg = base_config(keys_file)
    cfg["processors"] = {"memory_limiter/tiny": {"limit_mib": 2, "check_interval": "100ms"}}
    cfg["service"]["pipelines"]["logs"]["processors"] = ["memory_limiter/tiny"]
    running = await start_collector(cfg)
    headers = {**JSON, "Authorization": f"Bearer {org_key}"}
    resp = await client.post(running.url + "/v1/logs", content=sample_json, headers=headers)
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "1"
    assert running.exporter().batches == []
    text = await scrape(running, client)
    refused = "otelcol_processor_refused_log_records_total"
    assert metric(text, refused, processor="memory_limiter/tiny") == 6


async def test_memory_limiter_accepts_again_once_memory_is_back_under(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """When usage drops under the soft limit, data flows again."""
    cfg = base_config(keys_file)
    cfg["processors"] = {"memory_limiter": {"limit_mib": 100_000, "check_interval": "50ms"}}
    cfg["service"]["pipelines"]["logs"]["processors"] = ["memory_limiter"]
    running = await start_collector(cfg)
    limiter = running.service.graph.processors[0][2]
    headers = {**JSON, "Authorization": f"Bearer {org_key}"}
    limiter.measure = lambda: 200_000 * 1024 * 1024
    limiter.check()
    refused = await client.post(running.url + "/v1/logs", content=sample_json, headers=headers)
    limiter.measure = lambda: 10 * 1024 * 1024
    limiter.check()
    accepted = await client.post(running.url + "/v1/logs", content=sample_json, headers=headers)
    assert (refused.status_code, accepted.status_code) == (429, 200)


async def test_the_process_reports_its_uptime_cpu_and_memory_as_the_collector_does(
    start_collector: StartCollector, keys_file: Path, org_key: str, client: httpx.AsyncClient
) -> None:
    running = await start_collector(base_config(keys_file))
    text = await scrape(running, client)
    assert metric(text, "otelcol_process_uptime_seconds_total") > 0
    assert metric(text, "otelcol_process_cpu_seconds_total") > 0
    assert 10 * 2**20 < metric(text, "otelcol_process_memory_rss_bytes") < 4 * 2**30
    later = await scrape(running, client)
    assert metric(later, "otelcol_process_uptime_seconds_total") > metric(
        text, "otelcol_process_uptime_seconds_total"
    )


async def test_target_info_names_the_instance_and_no_created_series_are_served(
    start_collector: StartCollector, keys_file: Path, org_key: str, client: httpx.AsyncClient
) -> None:
    running = await start_collector(base_config(keys_file))
    text = await scrape(running, client)
    (info,) = [line for line in text.splitlines() if line.startswith("target_info{")]
    labels = dict(re.findall(r'(\w+)="([^"]*)"', info))
    assert re.fullmatch(r"[0-9a-f-]{36}", labels["service_instance_id"])
    assert labels["service_name"] == "session-collector"
    assert labels["service_version"]
    assert "_created" not in text
