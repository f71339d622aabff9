"""The redaction processor masks secrets in free-text attributes and passes every batch on.

The fake secrets are built here from seeded random characters, so nothing that looks like a
real secret is written in this file.
"""

from __future__ import annotations

import base64
import json
import random
import string
from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope as PbScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from pydantic import ValidationError

from collector.component import ComponentID, Kind
from collector.consumererror import RetryableError
from collector.pdata import otlp_json
from collector.pdata.records import AnyValue, LogBatch, LogRecord
from collector.pdata.signals import TracesBatch, decode_traces
from processors.redaction import (
    BUILTIN_NAMES,
    DEFAULT_ATTRIBUTES,
    FACTORY,
    RedactionConfig,
    RedactionProcessor,
)
from tests.conftest import REPO
from tests.doubles import RecordingExporter, RecordingExporterConfig

_rng = random.Random(20240611)
ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
SESSION_ID = "1ddae8b2-80dd-4b49-a5a9-be58ef748593"
TOOL_USE_ID = "toolu_6dc8b827a674410ba2df"


def rand(n: int, alphabet: str = ALNUM) -> str:
    """``n`` seeded random characters of ``alphabet``."""
    return "".join(_rng.choice(alphabet) for _ in range(n))


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def pem(kind: str) -> str:
    label = f"{kind} PRIVATE KEY".strip()
    lines = [rand(64, B64) for _ in range(4)] + [rand(20, B64) + "=="]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


def masked(name: str) -> str:
    return f"[REDACTED:{name}]"


# (case id, text holding a secret, the same text masked)
SECRETS: list[tuple[str, str, str]] = [
    (
        "anthropic",
        "sk-ant-api03-" + rand(93, B64URL) + "AA",
        masked("anthropic_api_key"),
    ),
    ("anthropic-admin", "sk-ant-admin01-" + rand(93, B64URL), masked("anthropic_api_key")),
    ("openai-legacy", "sk-" + rand(20) + "T3BlbkFJ" + rand(20), masked("openai_api_key")),
    ("openai-project", "sk-proj-" + rand(156, B64URL), masked("openai_api_key")),
    ("openai-hex", "sk-" + rand(32, "0123456789abcdef"), masked("openai_api_key")),
    ("aws-access-key-id", "AKIA" + rand(16, UPPER_ALNUM), masked("aws_access_key_id")),
    ("aws-session-key-id", "ASIA" + rand(16, UPPER_ALNUM), masked("aws_access_key_id")),
    (
        "aws-secret-env",
        "AWS_SECRET_ACCESS_KEY=" + rand(40, B64),
        "AWS_SECRET_ACCESS_KEY=" + masked("aws_secret_access_key"),
    ),
    (
        "aws-secret-ini",
        "aws_secret_access_key = " + rand(40, B64),
        "aws_secret_access_key = " + masked("aws_secret_access_key"),
    ),
    (
        "aws-secret-json",
        '{"SecretAccessKey": "' + rand(40, B64) + '"}',
        '{"SecretAccessKey": "' + masked("aws_secret_access_key") + '"}',
    ),
    ("github-classic", "ghp_" + rand(36), masked("github_token")),
    ("github-oauth", "gho_" + rand(36), masked("github_token")),
    ("github-user-to-server", "ghu_" + rand(36), masked("github_token")),
    ("github-server-to-server", "ghs_" + rand(36), masked("github_token")),
    ("github-refresh", "ghr_" + rand(36), masked("github_token")),
    (
        "github-fine-grained",
        "github_pat_" + rand(22) + "_" + rand(59),
        masked("github_token"),
    ),
    (
        "slack-bot",
        "xoxb-" + rand(12, string.digits) + "-" + rand(13, string.digits) + "-" + rand(24),
        masked("slack_token"),
    ),
    (
        "slack-user",
        "xoxp-" + rand(12, string.digits) + "-" + rand(12, string.digits) + "-" + rand(32),
        masked("slack_token"),
    ),
    (
        "slack-webhook",
        "https://hooks.slack.com/services/T"
        + rand(10, UPPER_ALNUM)
        + "/B"
        + rand(10)
        + "/"
        + rand(24),
        "https://hooks.slack.com/services/" + masked("slack_webhook_url"),
    ),
    ("google", "AIza" + rand(35, B64URL), masked("google_api_key")),
    (
        "jwt",
        b64url({"alg": "HS256", "typ": "JWT"})
        + "."
        + b64url({"sub": "1234567890", "exp": 1795723410})
        + "."
        + rand(43, B64URL),
        masked("jwt"),
    ),
    (
        "bearer",
        "Bearer " + rand(40, B64URL + "."),
        "Bearer " + masked("bearer_token"),
    ),
    (
        "authorization-basic",
        "Authorization: Basic " + base64.b64encode(b"deploy:" + rand(16).encode()).decode(),
        "Authorization: Basic " + masked("authorization"),
    ),
    (
        "authorization-json",
        '{"Authorization": "' + rand(32) + '"}',
        '{"Authorization": "' + masked("authorization") + '"}',
    ),
    ("private-key-rsa", pem("RSA"), masked("private_key")),
    ("private-key-openssh", pem("OPENSSH"), masked("private_key")),
    ("private-key-pkcs8", pem(""), masked("private_key")),
    (
        "url-password",
        "postgres://app:" + rand(20) + "@db.internal:5432/app",
        "postgres://app:" + masked("url_password") + "@db.internal:5432/app",
    ),
    (
        "url-password-no-user",
        "redis://:" + rand(24) + "@cache:6379/0",
        "redis://:" + masked("url_password") + "@cache:6379/0",
    ),
]

# Text that looks a little like a secret and must stay exactly as it is.
ORDINARY = [
    "list the files here and explain what the build does",
    f"resume session {SESSION_ID} please",
    f"tool {TOOL_USE_ID} finished in 46 ms",
    "Use bearer authentication: put the token in the Authorization header.",
    "Authorization: required. Bearer tokens expire after an hour.",
    "curl -H 'Authorization: Bearer $TOKEN' https://api.example.com/v1/items?id=3",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixes the scikit-learn task-runner",
    "pip install sk-learn-tutorial-for-beginners-part-two",
    "see https://example.com:8443/docs/page#section and mail dev@example.com",
    "git clone git@github.com:acme/repo.git && ssh://git@host:22/repo",
    "the secret_access_key setting is documented in the AWS guide",
    "ASIAN AKIAKIA FASIA passwords: hunter2",
    "/home/dev/project/src/keys/private_key.py line 12",
    "-----BEGIN CERTIFICATE----- is public, not a key",
]


def record(**attributes: AnyValue) -> LogRecord:
    return LogRecord(body="claude_code.user_prompt", attributes=dict(attributes))


def make(**config: object) -> tuple[RedactionProcessor, RecordingExporter]:
    recorder = RecordingExporter(ComponentID("recording"), RecordingExporterConfig())
    processor = RedactionProcessor(
        ComponentID("redaction"), RedactionConfig.model_validate(config), recorder
    )
    return processor, recorder


async def run(records: list[LogRecord], **config: object) -> list[LogRecord]:
    """The records the next consumer received after the processor."""
    processor, recorder = make(**config)
    await processor.consume(LogBatch("acme", records))
    received = [r for b in recorder.batches for r in b.records]
    assert len(received) == len(records)
    return received


@pytest.mark.parametrize("attribute", DEFAULT_ATTRIBUTES)
@pytest.mark.parametrize(
    ("secret", "expected"), [c[1:] for c in SECRETS], ids=[c[0] for c in SECRETS]
)
async def test_builtin_secret_is_masked_in_each_default_attribute(
    attribute: str, secret: str, expected: str
) -> None:
    """Each built-in kind of secret is masked in each default attribute, the text around kept."""
    [out] = await run([record(**{attribute: f"before: {secret} :after"})])
    assert out.attributes[attribute] == f"before: {expected} :after"


@pytest.mark.parametrize(
    ("secret", "expected"), [c[1:] for c in SECRETS], ids=[c[0] for c in SECRETS]
)
async def test_masked_tool_parameters_stay_valid_json(secret: str, expected: str) -> None:
    """A secret inside a JSON string value is masked and the attribute still parses as JSON."""
    params = {"command": f"deploy --token {secret} --env prod", "description": "Deploy"}
    [out] = await run([record(tool_parameters=json.dumps(params))])
    value = out.attributes["tool_parameters"]
    assert isinstance(value, str)
    assert json.loads(value) == {
        "command": f"deploy --token {expected} --env prod",
        "description": "Deploy",
    }


@pytest.mark.parametrize(
    ("secret", "expected"), [c[1:] for c in SECRETS], ids=[c[0] for c in SECRETS]
)
async def test_builtin_secret_is_masked_among_many_texts_of_a_batch(
    secret: str, expected: str
) -> None:
    """In a batch of many texts (searched together), a secret that is a whole text, starts
    one or ends one is masked, and every ordinary text around it is left as it was."""
    texts = [*ORDINARY, secret, *ORDINARY, f"{secret} :after", f"before: {secret}", *ORDINARY]
    records = [record(prompt=text) for text in texts]
    out = await run(records)
    masked_texts = [*ORDINARY, expected, *ORDINARY, f"{expected} :after", f"before: {expected}",
                    *ORDINARY]  # fmt: skip
    assert [r.attributes["prompt"] for r in out] == masked_texts
    counts = [r.attributes.get("redaction.masked.count") for r in out]
    assert sum(1 for c in counts if c) == 3


async def test_match_across_two_texts_masks_neither_and_hides_no_later_secret() -> None:
    """A label at the end of one text and a token at the start of the next are no secret;
    a real secret later in that next text is still masked."""
    token = rand(24)
    first = "the header is Bearer"
    second = f"{rand(16)} but this one is real: Bearer {token}"
    out = await run([record(prompt=first), record(prompt=second)])
    assert out[0].attributes == {"prompt": first}
    assert out[1].attributes["prompt"] == second.replace(token, masked("bearer_token"))


def test_texts_without_utf8_form_are_all_suspects() -> None:
    """A lone surrogate (no decoder lets one through) cannot reach RE2: every text is
    searched one by one instead of the batch failing."""
    processor, _ = make()
    assert processor.suspects(["plain", "lone \ud800 surrogate"]) == [0, 1]
    assert processor.suspects(["plain", "text"]) == []


async def test_unmasked_records_keep_their_encoding() -> None:
    """Records where nothing was masked keep ``source``, so they are re-encoded as they came."""
    secret = SECRETS[0][1]
    records = [record(prompt="nothing here"), record(prompt=secret)]
    for r in records:
        r.source = b"original"
    out = await run(records)
    assert [r.source for r in out] == [b"original", None]


def test_every_builtin_pattern_has_a_test_case() -> None:
    """Each built-in pattern name is produced by at least one case above."""
    produced = {name for name in BUILTIN_NAMES for _, _, exp in SECRETS if masked(name) in exp}
    assert produced == set(BUILTIN_NAMES)


@pytest.mark.parametrize("text", ORDINARY)
async def test_ordinary_text_is_untouched(text: str) -> None:
    """Prose, UUIDs, tool ids, hashes, paths and URLs without passwords are left alone."""
    [out] = await run([record(prompt=text, error=text)])
    assert out.attributes == {"prompt": text, "error": text}


async def test_real_claude_code_export_passes_unchanged(sample_json: bytes) -> None:
    """The records of a real Claude Code session hold no secret and come out identical."""
    records = otlp_json.decode_request(sample_json)
    before = [dict(r.attributes) for r in records]
    out = await run(records)
    assert [r.attributes for r in out] == before


async def test_json_escaped_authorization_header_is_masked() -> None:
    """Credentials in JSON nested inside a JSON string are masked and both levels still parse."""
    inner = json.dumps({"Authorization": "Basic " + rand(24)})
    params = json.dumps({"command": f"curl -d '{inner}' https://api.example.com"})
    [out] = await run([record(tool_input=params)])
    value = out.attributes["tool_input"]
    assert isinstance(value, str)
    command = json.loads(value)["command"]
    assert json.loads(command.split("'")[1]) == {"Authorization": "Basic [REDACTED:authorization]"}


async def test_bearer_jwt_is_masked_once_as_jwt() -> None:
    """A JWT sent as a bearer token is masked once, under the more specific name."""
    jwt = b64url({"alg": "RS256"}) + "." + b64url({"sub": "u1"}) + "." + rand(43, B64URL)
    [out] = await run([record(tool_input=f"Authorization: Bearer {jwt}")])
    assert out.attributes["tool_input"] == "Authorization: Bearer [REDACTED:jwt]"
    assert out.attributes["redaction.masked.count"] == 1


async def test_truncated_private_key_is_masked_to_its_last_base64_line() -> None:
    """A private key whose END line was cut off is masked from its header to the base64's end."""
    head = pem("EC").split("-----END")[0].rstrip("\n")
    [out] = await run([record(error=f"cat id_ec:\n{head} (truncated)")])
    assert out.attributes["error"] == "cat id_ec:\n[REDACTED:private_key] (truncated)"


async def test_count_attribute_holds_the_masks_of_the_record() -> None:
    """Each record with masks gets the number of masks in it; others get nothing."""
    key = "sk-ant-api03-" + rand(90, B64URL)
    gh = "ghp_" + rand(36)
    out = await run(
        [record(prompt=f"{key} and {gh}", response=f"saw {key}"), record(prompt="hello")]
    )
    assert out[0].attributes["redaction.masked.count"] == 3
    assert "redaction.masked.count" not in out[1].attributes


async def test_count_attribute_name_is_configurable() -> None:
    """``summary_attribute`` names the attribute that holds the count."""
    [out] = await run([record(prompt="ghp_" + rand(36))], summary_attribute="secrets.masked")
    assert out.attributes["secrets.masked"] == 1
    assert "redaction.masked.count" not in out.attributes


async def test_empty_summary_attribute_sets_no_count() -> None:
    """With ``summary_attribute: ""`` records are masked but get no count attribute."""
    [out] = await run([record(prompt="ghp_" + rand(36))], summary_attribute="")
    assert out.attributes == {"prompt": masked("github_token")}


async def test_masked_total_counts_every_mask() -> None:
    """``masked_total`` adds up the masks of every batch the processor has seen."""
    processor, _ = make(deny_keys=["user.email"])
    for _ in range(2):
        batch = LogBatch(
            "acme", [record(prompt="AKIA" + rand(16, UPPER_ALNUM), **{"user.email": "a@b"})]
        )
        await processor.consume(batch)
    assert processor.masked_total == 4


async def test_allow_keys_are_never_touched() -> None:
    """An attribute in ``allow_keys`` keeps its secret even though it is in ``attributes``."""
    key = "ghp_" + rand(36)
    [out] = await run([record(prompt=key, response=key)], allow_keys=["prompt"])
    assert out.attributes["prompt"] == key
    assert out.attributes["response"] == masked("github_token")


@pytest.mark.parametrize("value", ["dev@example.com", 42, 0.5, ["a", "b"], {"k": "v"}, None])
async def test_deny_keys_lose_their_whole_value(value: AnyValue) -> None:
    """An attribute in ``deny_keys`` is replaced by ``[REDACTED]`` whatever its value."""
    [out] = await run([record(**{"user.email": value, "prompt": "hi"})], deny_keys=["user.email"])
    assert out.attributes == {
        "user.email": "[REDACTED]",
        "prompt": "hi",
        "redaction.masked.count": 1,
    }


async def test_deny_keys_absent_from_a_record_are_not_added() -> None:
    """A denied key that a record does not have is not created."""
    [out] = await run([record(prompt="hi")], deny_keys=["user.email"])
    assert out.attributes == {"prompt": "hi"}


async def test_extra_pattern_is_masked() -> None:
    """A match of an ``extra_patterns`` regex is replaced by ``[REDACTED:extra]``."""
    [out] = await run([record(prompt="ticket ACME-123456 done")], extra_patterns=[r"ACME-\d{6}"])
    assert out.attributes["prompt"] == "ticket [REDACTED:extra] done"
    assert out.attributes["redaction.masked.count"] == 1


async def test_extra_pattern_secret_group_masks_only_that_group() -> None:
    """When an extra pattern has a group named ``secret``, only that group is masked."""
    [out] = await run(
        [record(prompt="export DB_PASSWORD=hunter2; run")],
        extra_patterns=[r"PASSWORD=(?P<secret>[^;\s]+)"],
    )
    assert out.attributes["prompt"] == "export DB_PASSWORD=[REDACTED:extra]; run"


async def test_extra_pattern_empty_matches_are_ignored() -> None:
    """An extra pattern that can match empty text masks and counts only non-empty matches."""
    [out] = await run([record(prompt="a pin 1234 b")], extra_patterns=[r"\b(?=\d)\d*"])
    assert out.attributes["prompt"] == "a pin [REDACTED:extra] b"
    assert out.attributes["redaction.masked.count"] == 1


def test_invalid_extra_pattern_is_a_config_error_naming_it() -> None:
    """An extra pattern that does not compile fails validation with the pattern in the message."""
    with pytest.raises(ValidationError, match=r"token-\(\[a-z"):
        RedactionConfig.model_validate({"extra_patterns": ["ok", "token-([a-z"]})


def test_extra_pattern_matching_empty_text_is_a_config_error() -> None:
    """An extra pattern that matches the empty string would mask everywhere and is refused."""
    with pytest.raises(ValidationError, match=r"matches the empty string"):
        RedactionConfig.model_validate({"extra_patterns": ["x*"]})


def test_key_in_both_allow_and_deny_is_a_config_error() -> None:
    """A key listed in both ``allow_keys`` and ``deny_keys`` is contradictory and refused."""
    with pytest.raises(ValidationError, match=r"user\.email"):
        RedactionConfig.model_validate({"allow_keys": ["user.email"], "deny_keys": ["user.email"]})


def test_unknown_config_key_is_a_config_error() -> None:
    """Like every component config, unknown keys are errors."""
    with pytest.raises(ValidationError, match="patterns"):
        RedactionConfig.model_validate({"patterns": ["x"]})


async def test_attributes_not_listed_are_untouched() -> None:
    """A secret in an attribute outside ``attributes`` (or in the body) is left alone."""
    key = "ghp_" + rand(36)
    rec = LogRecord(body=key, attributes={"command_name": key, "prompt": key})
    [out] = await run([rec], attributes=["prompt"])
    assert out.body == key
    assert out.attributes["command_name"] == key
    assert out.attributes["prompt"] == masked("github_token")


async def test_configured_attributes_replace_the_defaults() -> None:
    """With ``attributes`` set, only those keys are scanned, not the default five."""
    key = "ghp_" + rand(36)
    [out] = await run([record(prompt=key, bash_command=key)], attributes=["bash_command"])
    assert out.attributes == {
        "prompt": key,
        "bash_command": masked("github_token"),
        "redaction.masked.count": 1,
    }


@pytest.mark.parametrize("value", [19, 1.5, True, b"ghp_bytes", ["ghp_" + "a" * 36], None])
async def test_non_string_values_are_untouched(value: AnyValue) -> None:
    """Values that are not strings are left as they are, even in a scanned attribute."""
    [out] = await run([record(prompt=value)])
    assert out.attributes == {"prompt": value}


async def test_masking_twice_changes_nothing_more() -> None:
    """Masked text holds nothing the built-in patterns match again."""
    text = " ".join(secret for _, secret, _ in SECRETS)
    processor, _ = make()
    once, count = processor.mask_text(text)
    assert count == len(SECRETS)
    assert processor.mask_text(once) == (once, 0)


async def test_downstream_errors_propagate() -> None:
    """An error of the next consumer reaches the caller unchanged."""
    processor, recorder = make()
    recorder.fail_with = "retryable"
    with pytest.raises(RetryableError) as info:
        await processor.consume(LogBatch("acme", [record(prompt="hi")]))
    assert info.value.retry_after == 7


async def test_lifecycle_and_factory() -> None:
    """The factory builds a processor that changes data and starts and stops cleanly."""

    class Host:
        def get_extension(self, component_id: ComponentID) -> object | None:
            return None

        def component_config(self, kind: Kind, component_id: ComponentID) -> object | None:
            return None

    recorder = RecordingExporter(ComponentID("recording"), RecordingExporterConfig())
    processor = FACTORY.create(ComponentID("redaction"), RedactionConfig(), recorder)
    assert (FACTORY.kind, FACTORY.type) == (Kind.PROCESSOR, "redaction")
    assert isinstance(processor, RedactionProcessor)
    assert processor.mutates_data is True
    await processor.start(Host())
    await processor.shutdown()
    await processor.shutdown()


def test_default_config() -> None:
    """By default the five free-text attributes are scanned and the count is named like OTel's."""
    config = RedactionConfig()
    assert config.attributes == ["prompt", "response", "tool_parameters", "tool_input", "error"]
    assert (config.extra_patterns, config.allow_keys, config.deny_keys) == ([], [], [])
    assert config.summary_attribute == "redaction.masked.count"


async def test_masked_records_derive_their_fields_again_from_masked_values() -> None:
    """Fields derived before masking must not keep a denied user.email."""
    from collector.pdata.records import LogBatch, LogRecord
    from collector.sessions.events import derive, event_of
    from processors.redaction import RedactionConfig, RedactionProcessor
    from tests.doubles import RecordingExporter, RecordingExporterConfig

    record = LogRecord(attributes={"session.id": "s", "user.email": "dev@example.com"})
    assert event_of(record).user_email == "dev@example.com"
    sink = RecordingExporter(ComponentID("recording"), RecordingExporterConfig())
    processor = RedactionProcessor(
        ComponentID("redaction"), RedactionConfig(deny_keys=["user.email"]), sink
    )
    await processor.consume(LogBatch("acme", [record]))
    (out,) = sink.records
    assert event_of(out).user_email == "[REDACTED]"
    assert derive(out).user_email == "[REDACTED]"


ESCAPED_KEYS = {
    "anthropic_api_key": "sk-ant-api03-" + "Ab1_" * 10,
    "aws_access_key_id": "AKIA" + "ABCDEFGH12345678",
    "github_token": "ghp_" + "a1B2" * 9,
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
}
#: how the text before a secret looks inside a JSON string: the escape ends at the secret
ESCAPED_BEFORE = {
    "newline": "cat > .env <<EOF\\n",
    "tab": "key:\\t",
    "ansi colour": "\\u001b[32m",
    "quote": 'echo \\"',
    "unicode escape": "\\u00e9",
}


@pytest.mark.parametrize("before", sorted(ESCAPED_BEFORE))
@pytest.mark.parametrize("name", sorted(ESCAPED_KEYS))
def test_a_secret_right_after_an_escape_sequence_is_masked_and_the_json_stays_valid(
    name: str, before: str
) -> None:
    """Inside a JSON string (tool_parameters), a secret that follows ``\\n``, ``\\t``, an
    escaped colour code, an escaped quote or a ``\\uXXXX`` escape is masked, and the text is
    still the same JSON document with only the secret replaced."""
    import json

    processor = RedactionProcessor(ComponentID("redaction"), RedactionConfig(), None)  # type: ignore[arg-type]
    secret = ESCAPED_KEYS[name]
    document = '{"command":"' + ESCAPED_BEFORE[before] + secret + '\\nEOF"}'
    masked, count = processor.mask_text(document)
    assert count == 1
    assert secret not in masked
    assert f"[REDACTED:{name}]" in masked
    assert json.loads(masked)["command"] == json.loads(document)["command"].replace(
        secret, f"[REDACTED:{name}]"
    )
    assert processor.mask_text(masked) == (masked, 0)  # idempotent


ANTHROPIC_TAIL = "api03-" + "Ab1_" * 10
#: secrets whose own characters are escaped or percent-encoded, as they stand in the text,
#: and what the text is once masked (JSON texts must still parse)
HIDDEN_SECRETS = {
    "unicode-escaped dash": (
        '{"command":"export K=sk\\u002dant-' + ANTHROPIC_TAIL + '"}',
        '{"command":"export K=[REDACTED:anthropic_api_key]"}',
    ),
    "unicode-escaped first letter": (
        '{"command":"\\u0073k-ant-' + ANTHROPIC_TAIL + '\\nEOF"}',
        '{"command":"[REDACTED:anthropic_api_key]\\nEOF"}',
    ),
    "unicode-escaped access key letter": (
        '{"command":"AKIA\\u0041BCDEFGH12345678"}',
        '{"command":"[REDACTED:aws_access_key_id]"}',
    ),
    "escaped slashes in a URL with a password": (
        '{"url":"https:\\/\\/admin:hunter2pass@db.example.com\\/x"}',
        '{"url":"https:\\/\\/admin:[REDACTED:url_password]@db.example.com\\/x"}',
    ),
    "escaped slashes in a Slack webhook": (
        '{"url":"https:\\/\\/hooks.slack.com\\/services\\/T000\\/B000\\/XXXXXXXX"}',
        '{"url":"https:\\/\\/hooks.slack.com\\/services\\/[REDACTED:slack_webhook_url]"}',
    ),
    "URL-encoded URL with a password in a query string": (
        "curl 'https://x.example.com/cb?to=postgres%3A%2F%2Fapp%3Ap4ssw0rd%40db%2Fapp'",
        "curl 'https://x.example.com/cb?to=postgres%3A%2F%2Fapp%3A[REDACTED:url_password]"
        "%40db%2Fapp'",
    ),
    "URL-encoded key after an equals sign": (
        "curl https://x.example.com/?q=key%3Dsk-ant-" + ANTHROPIC_TAIL,
        "curl https://x.example.com/?q=key%3D[REDACTED:anthropic_api_key]",
    ),
    "URL-encoded authorization header": (
        "curl https://x.example.com/?h=Authorization%3A%20Bearer%20abcDEF123456789",
        "curl https://x.example.com/?h=Authorization%3A%20Bearer%20[REDACTED:authorization]",
    ),
    "password holding an escaped double quote": (
        '{"command":"psql postgres://app:pa\\"ss@db/x"}',
        '{"command":"psql postgres://app:[REDACTED:url_password]@db/x"}',
    ),
    "password holding a single quote": (
        "psql mysql://app:it's@db/x",
        "psql mysql://app:[REDACTED:url_password]@db/x",
    ),
}


@pytest.mark.parametrize("form", sorted(HIDDEN_SECRETS))
def test_a_secret_with_escaped_or_percent_encoded_characters_is_masked(form: str) -> None:
    """A secret that a built-in pattern finds once the text's JSON escapes (``\\uXXXX``,
    ``\\/``) and percent escapes are undone is masked where it stands, whole escape sequences
    at a time, so a JSON text stays valid; masking again changes nothing."""
    import json

    processor = RedactionProcessor(ComponentID("redaction"), RedactionConfig(), None)  # type: ignore[arg-type]
    text, expected = HIDDEN_SECRETS[form]
    assert processor.mask_text(text) == (expected, 1)
    if text.startswith("{"):
        json.loads(expected)
    assert processor.mask_text(expected) == (expected, 0)


@pytest.mark.parametrize("form", sorted(HIDDEN_SECRETS))
def test_a_batch_search_finds_the_text_holding_a_hidden_secret(form: str) -> None:
    """The batch-level search names the text with a hidden secret as a suspect, among
    texts without one (a suspect missed there is never masked)."""
    processor = RedactionProcessor(ComponentID("redaction"), RedactionConfig(), None)  # type: ignore[arg-type]
    text, _ = HIDDEN_SECRETS[form]
    plain = ['{"command":"ls -la\\n"}', "curl https://x.example.com/?q=a%20b", "hello"]
    assert processor.suspects([*plain, text, *plain]) == [len(plain)]


# -- spans ------------------------------------------------------------------------------------


def span_batch(*spans: Any) -> TracesBatch:
    from collector.pdata.signals import Origin, Span

    resource, scope = Origin(PbResource()), Origin(PbScope())
    return TracesBatch("acme", [Span(resource, scope, s) for s in spans])


def span(name: str, **attributes: Any) -> Any:
    pb = PbSpan(name=name)
    for key, value in attributes.items():
        kv = pb.attributes.add(key=key)
        if isinstance(value, int):
            kv.value.int_value = value
        else:
            kv.value.string_value = value
    return pb


def attrs(pb: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in pb.attributes}


@pytest.mark.parametrize(
    ("secret", "expected"), [c[1:] for c in SECRETS], ids=[c[0] for c in SECRETS]
)
async def test_builtin_secret_is_masked_in_any_span_attribute_among_many_spans(
    secret: str, expected: str
) -> None:
    processor, recorder = make()
    quiet = [span(f"s{i}", user_prompt=f"plain text {i}", session_id="abc") for i in range(20)]
    loud = span("interaction", user_prompt=f"use {secret} now", duration_ms=3)
    await processor.consume(span_batch(*quiet, loud, *quiet[:5]))
    (batch,) = recorder.batches
    assert attrs(batch.records[20].pb)["user_prompt"] == f"use {expected} now"
    assert attrs(batch.records[20].pb)["redaction.masked.count"] == 1
    assert [attrs(s.pb) for s in batch.records[:20]] == [attrs(s) for s in quiet]


async def test_a_secret_in_a_span_event_attribute_is_masked() -> None:
    processor, recorder = make()
    pb = span("tool")
    pb.events.add(name="tool.input").attributes.add(key="input").value.string_value = (
        "curl -H 'Authorization: Bearer ghp_" + "a1B2" * 9 + "'"
    )
    await processor.consume(span_batch(pb))
    (event,) = recorder.batches[0].records[0].pb.events
    assert "ghp_" not in event.attributes[0].value.string_value
    assert attrs(recorder.batches[0].records[0].pb)["redaction.masked.count"] == 1


async def test_span_allow_keys_are_left_and_deny_keys_emptied() -> None:
    secret = "sk-ant-api03-" + rand(93, B64URL) + "AA"
    processor, recorder = make(allow_keys=["fixture"], deny_keys=["user.email"])
    await processor.consume(span_batch(span("s", fixture=secret, **{"user.email": "a@b.c"})))
    got = attrs(recorder.batches[0].records[0].pb)
    assert got["fixture"] == secret
    assert got["user.email"] == "[REDACTED]"


async def test_a_real_claude_code_trace_export_passes_unchanged() -> None:
    data = (REPO / "tests/data/claude-code-2.1.197-write/grpc/traces.pb").read_bytes()
    processor, recorder = make()
    await processor.consume(TracesBatch("acme", decode_traces(data)))
    assert recorder.batches[0].to_proto() == TracesBatch("acme", decode_traces(data)).to_proto()
    assert processor.masked_total == 0
