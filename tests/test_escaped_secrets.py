"""Secrets inside JSON-escaped text are masked where they are stored: a tool call whose
``tool_parameters`` hold keys right after ``\\n``, ``\\t`` and escaped colour codes, sent to
the built-in default config over HTTP, is stored in ``otel_logs`` with every key masked and
the parameters still valid JSON. Real HTTP, real chDB."""

from __future__ import annotations

import json

import httpx
import orjson

from tests.processors.test_redaction import ESCAPED_KEYS, HIDDEN_SECRETS
from tests.test_store_takes_every_record import Default, default, post, set_attr  # noqa: F401

TOOL_DECISION = 1  # index of the sample's tool_decision record


async def test_keys_after_escape_sequences_are_masked_in_the_store(
    default: Default,  # noqa: F811
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """Every built-in key kind, each after another escape, in one tool_parameters string:
    all masked in otel_logs as stored, and the stored value parses as the same JSON."""
    command = (
        f"cat > .env <<EOF\n{ESCAPED_KEYS['anthropic_api_key']}\n"
        f"AWS=\t{ESCAPED_KEYS['aws_access_key_id']}\n"
        f"\x1b[32m{ESCAPED_KEYS['github_token']}\x1b[0m\n"
        f"{ESCAPED_KEYS['jwt']}\nEOF"
    )
    parameters = json.dumps({"command": command})  # escapes: \n, \t, \u001b
    doc = orjson.loads(sample_json)
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][TOOL_DECISION]
    set_attr(record, "tool_parameters", {"stringValue": parameters})
    resp = await post(client, default.url, default.key, orjson.dumps(doc))
    assert resp.status_code == 200
    await default.drained()
    store = default.store
    (row,) = await store.call(
        store.query,
        "SELECT LogAttributes['tool_parameters'] AS p FROM otel_logs WHERE EventName = "
        "'tool_decision'",
    )
    stored = row["p"]
    for name, key in ESCAPED_KEYS.items():
        assert key not in stored
        assert f"[REDACTED:{name}]" in stored
    masked = command
    for name, key in ESCAPED_KEYS.items():
        masked = masked.replace(key, f"[REDACTED:{name}]")
    assert json.loads(stored) == {"command": masked}


async def test_secrets_hidden_by_escapes_or_percent_encoding_are_masked_in_the_store(
    default: Default,  # noqa: F811
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """Every hidden form (escaped characters of the secret, ``\\/\\/`` URLs, URL-encoded
    query strings, passwords with quotes), the JSON ones in ``tool_parameters`` and the
    others in ``error``: stored masked, the parameters still parse, as the processor
    masks them alone."""
    json_forms = [form for form in HIDDEN_SECRETS.values() if form[0].startswith("{")]
    text_forms = [form for form in HIDDEN_SECRETS.values() if not form[0].startswith("{")]

    def inner(text: str) -> str:  # the string value of a one-key JSON object, as written
        return text[text.index(':"') + 2 : -2]

    parameters = "{" + ",".join(f'"k{i}":"{inner(t)}"' for i, (t, _) in enumerate(json_forms))
    masked = "{" + ",".join(f'"k{i}":"{inner(m)}"' for i, (_, m) in enumerate(json_forms))
    doc = orjson.loads(sample_json)
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][TOOL_DECISION]
    set_attr(record, "tool_parameters", {"stringValue": parameters + "}"})
    set_attr(record, "error", {"stringValue": "\n".join(t for t, _ in text_forms)})
    resp = await post(client, default.url, default.key, orjson.dumps(doc))
    assert resp.status_code == 200
    await default.drained()
    store = default.store
    (row,) = await store.call(
        store.query,
        "SELECT LogAttributes['tool_parameters'] AS p, LogAttributes['error'] AS e "
        "FROM otel_logs WHERE EventName = 'tool_decision'",
    )
    assert row["p"] == masked + "}"
    json.loads(row["p"])
    assert row["e"] == "\n".join(m for _, m in text_forms)
