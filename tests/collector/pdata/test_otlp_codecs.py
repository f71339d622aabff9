"""OTLP JSON and protobuf decoding into the one record shape, and encoding back."""

from __future__ import annotations

import base64
import math

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector.consumererror import DecodeError
from collector.pdata import otlp_json, otlp_proto
from collector.pdata.records import LogBatch, LogRecord

SESSION = "1ddae8b2-80dd-4b49-a5a9-be58ef748593"
PROMPT = "a8e7c564-78b9-4c7b-880d-c466e6e33017"


def decode_both(sample_json: bytes) -> dict[str, list[LogRecord]]:
    proto = json_format.Parse(sample_json, ExportLogsServiceRequest()).SerializeToString()
    return {
        "json": otlp_json.decode_request(sample_json),
        "protobuf": otlp_proto.decode_request(proto),
    }


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_sample_decodes_into_its_six_records_in_order(sample_json: bytes, encoding: str) -> None:
    """The captured session yields exactly six records, in export order."""
    records = decode_both(sample_json)[encoding]
    assert [r.body for r in records] == [
        "claude_code.user_prompt",
        "claude_code.tool_decision",
        "claude_code.api_request",
        "claude_code.tool_result",
        "claude_code.api_request",
        "claude_code.assistant_response",
    ]
    assert [r.attributes["event.sequence"] for r in records] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_sample_attribute_values_keep_their_otlp_types(sample_json: bytes, encoding: str) -> None:
    """Strings stay strings ("19"), ints stay ints, doubles stay floats."""
    prompt, decision, api, tool, _, response = decode_both(sample_json)[encoding]
    assert prompt.attributes["session.id"] == SESSION
    assert prompt.attributes["prompt.id"] == PROMPT
    assert prompt.attributes["prompt_length"] == "19"
    assert prompt.attributes["prompt"] == "list the files here"
    assert prompt.attributes["event.timestamp"] == "2026-11-26T20:08:18.629Z"
    assert prompt.time_unix_nano == 1795723698629000000
    assert prompt.observed_time_unix_nano == 1795723698629000000
    assert decision.attributes["tool_use_id"] == "toolu_6dc8b827a674410ba2df"
    assert api.attributes["input_tokens"] == 1200
    assert api.attributes["cost_usd"] == 0.009374999999999998
    assert isinstance(api.attributes["cost_usd"], float)
    assert api.attributes["duration_ms"] == 34
    assert tool.attributes["success"] == "true"
    assert tool.attributes["duration_ms"] == "46"
    assert response.attributes["response_length"] == 37
    assert len(prompt.attributes) == 9


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_sample_resource_and_scope_are_shared_by_all_records(
    sample_json: bytes, encoding: str
) -> None:
    """All six records point at one resource and one scope, with their attributes."""
    records = decode_both(sample_json)[encoding]
    assert len({id(r.resource) for r in records}) == 1
    assert len({id(r.scope) for r in records}) == 1
    resource, scope = records[0].resource, records[0].scope
    assert resource.attributes == {
        "host.arch": "amd64",
        "os.type": "linux",
        "os.version": "6.18.44-fc-v669",
        "service.name": "claude-code",
        "service.version": "2.1.197",
    }
    assert (scope.name, scope.version) == ("com.anthropic.claude_code.events", "2.1.197")


def test_json_and_protobuf_decode_to_the_same_records(sample_json: bytes) -> None:
    """Both decoders produce identical records from the same export."""
    decoded = decode_both(sample_json)
    assert [_fields(r) for r in decoded["json"]] == [_fields(r) for r in decoded["protobuf"]]


def _fields(r: LogRecord) -> tuple[object, ...]:
    return (
        r.time_unix_nano, r.observed_time_unix_nano, r.severity_number, r.severity_text,
        r.body, r.attributes, r.dropped_attributes_count, r.flags, r.trace_id, r.span_id,
        r.event_name, r.resource.attributes, r.scope.name, r.scope.version,
    )  # fmt: skip


RICH = {
    "resourceLogs": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "x"}}]},
            "schemaUrl": "https://opentelemetry.io/schemas/1.24.0",
            "scopeLogs": [
                {
                    "scope": {"name": "s", "version": "1"},
                    "logRecords": [
                        {
                            "timeUnixNano": 1795723698629000000,
                            "severityNumber": 9,
                            "severityText": "INFO",
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "flags": 1,
                            "eventName": "claude_code.user_prompt",
                            "body": {"kvlistValue": {"values": [
                                {"key": "a", "value": {"arrayValue": {"values": [
                                    {"intValue": "-9223372036854775808"},
                                    {"doubleValue": "NaN"},
                                    {"boolValue": False},
                                    {},
                                ]}}},
                                {"key": "b", "value": {"bytesValue": "AAEC/w=="}},
                            ]}},
                            "attributes": [{"key": "n", "value": {"intValue": 7}}],
                            "droppedAttributesCount": 2,
                        }
                    ],
                }
            ],
        }
    ]
}  # fmt: skip


def test_json_decoding_follows_the_otlp_json_mapping() -> None:
    """Hex ids, int64 as string or number, enums as integers, base64 bytes, nested values."""
    (record,) = otlp_json.decode_request(orjson.dumps(RICH))
    assert record.trace_id == bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert record.span_id == bytes.fromhex("eee19b7ec3c1b174")
    assert (record.severity_number, record.flags, record.dropped_attributes_count) == (9, 1, 2)
    assert record.event_name == "claude_code.user_prompt"
    assert record.attributes == {"n": 7}
    assert isinstance(record.body, dict)
    first, nan, false, empty = record.body["a"]  # type: ignore[misc]
    assert (first, false, empty) == (-(2**63), False, None)
    assert math.isnan(nan)
    assert record.body["b"] == b"\x00\x01\x02\xff"
    assert record.resource.schema_url == "https://opentelemetry.io/schemas/1.24.0"


def test_severity_number_may_be_given_by_name() -> None:
    """``"severityNumber": "SEVERITY_NUMBER_WARN"`` is 13."""
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"severityNumber": "SEVERITY_NUMBER_WARN"}]}]}]}  # fmt: skip
    (record,) = otlp_json.decode_request(orjson.dumps(doc))
    assert record.severity_number == 13


def test_unknown_json_fields_are_ignored() -> None:
    """Fields the mapping does not know are skipped, as the OTLP spec requires."""
    doc = {"resourceLogs": [{"futureField": 1, "scopeLogs": [{"logRecords": [{"x": {}}]}]}]}
    assert len(otlp_json.decode_request(orjson.dumps(doc))) == 1


@pytest.mark.parametrize("codec", [otlp_json, otlp_proto], ids=["json", "protobuf"])
def test_encoding_then_decoding_gives_the_same_records(codec: object) -> None:
    """A batch survives encode -> decode with every field and value type intact."""
    records = otlp_json.decode_request(orjson.dumps(RICH))
    again = codec.decode_request(codec.encode_request(LogBatch("acme", records)))  # type: ignore[attr-defined]
    a, b = _fields(records[0]), _fields(again[0])
    body_a, body_b = a[4], b[4]
    assert a[:4] + a[5:] == b[:4] + b[5:]
    assert isinstance(body_a, dict) and isinstance(body_b, dict)
    assert body_a["b"] == body_b["b"]
    assert math.isnan(body_b["a"][1])
    assert again[0].resource.schema_url == records[0].resource.schema_url


def test_json_encoding_writes_int64_as_strings_and_ids_as_hex() -> None:
    """The file format is canonical OTLP/JSON."""
    records = otlp_json.decode_request(orjson.dumps(RICH))
    doc = orjson.loads(otlp_json.encode_request(LogBatch("acme", records)))
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert record["timeUnixNano"] == "1795723698629000000"
    assert record["traceId"] == "5b8efff798038103d269b633813fc60c"
    assert record["attributes"] == [{"key": "n", "value": {"intValue": "7"}}]
    assert record["body"]["kvlistValue"]["values"][1]["value"] == {
        "bytesValue": base64.b64encode(b"\x00\x01\x02\xff").decode()
    }


def test_encoding_keeps_resource_and_scope_grouping(sample_json: bytes) -> None:
    """Records of one resource and scope are written under one resourceLogs/scopeLogs."""
    records = otlp_json.decode_request(sample_json)
    doc = orjson.loads(otlp_json.encode_request(LogBatch("acme", records)))
    assert len(doc["resourceLogs"]) == 1
    assert len(doc["resourceLogs"][0]["scopeLogs"]) == 1
    assert len(doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]) == 6


def _nested_export(depth: int) -> bytes:
    body = '{"arrayValue":{"values":[' * depth + '{"stringValue":"leaf"}' + "]}}" * depth
    return ('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + body + "}]}]}]}").encode()


def test_deeply_nested_json_values_are_a_decode_error() -> None:
    """A value nested past the limit is refused instead of exhausting the stack."""
    with pytest.raises(DecodeError, match="nested deeper"):
        otlp_json.decode_request(_nested_export(200))


def test_json_nested_past_the_parsers_limit_is_a_decode_error() -> None:
    """Nesting deeper than the JSON parser allows is a decode error too, not a crash."""
    with pytest.raises(DecodeError):
        otlp_json.decode_request(_nested_export(2000))


def test_moderately_nested_json_values_are_fine() -> None:
    """Nesting within the limit decodes."""
    assert len(otlp_json.decode_request(_nested_export(30))) == 1


@pytest.mark.parametrize(
    ("record", "where"),
    [
        ({"timeUnixNano": "-1"}, "timeUnixNano"),
        ({"timeUnixNano": "18446744073709551616"}, "timeUnixNano"),
        ({"spanId": "00"}, "spanId"),
        ({"attributes": [{"key": 1}]}, "key"),
        ({"attributes": {"k": "v"}}, "attributes"),
        ({"body": {"bytesValue": "***"}}, "bytesValue"),
        ({"body": {"doubleValue": "fast"}}, "doubleValue"),
        ({"body": {"stringValue": 5}}, "stringValue"),
        ({"flags": 4294967296}, "flags"),
    ],
)
def test_wrong_json_types_and_ranges_are_decode_errors(
    record: dict[str, object], where: str
) -> None:
    """Each wrong type or out-of-range value is refused, naming the field."""
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
    with pytest.raises(DecodeError, match=where):
        otlp_json.decode_request(orjson.dumps(doc))


def test_deeply_nested_protobuf_values_are_a_decode_error() -> None:
    """A protobuf AnyValue nested past the limit is refused, not recursed into."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    request = ExportLogsServiceRequest()
    value = request.resource_logs.add().scope_logs.add().log_records.add().body
    for _ in range(80):
        value = value.array_value.values.add()
    value.string_value = "leaf"
    assert isinstance(value, AnyValue)
    with pytest.raises(DecodeError):
        otlp_proto.decode_request(request.SerializeToString())


# -- protobuf records decoded lazily ------------------------------------------------------

_KINDS = {
    "s": {"stringValue": "text"},
    "empty_s": {"stringValue": ""},
    "i": {"intValue": "-9223372036854775808"},
    "d": {"doubleValue": 0.5},
    "b": {"boolValue": True},
    "f": {"boolValue": False},
    "raw": {"bytesValue": "AAEC/w=="},
    "arr": {"arrayValue": {"values": [{"intValue": 1}, {"stringValue": "x"}]}},
    "kv": {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1.5}}]}},
    "none": {},
}


def _proto_of(attributes: dict[str, object]) -> bytes:
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"attributes": [
        {"key": k, "value": v} for k, v in attributes.items()
    ]}]}]}]}  # fmt: skip
    return json_format.Parse(orjson.dumps(doc), ExportLogsServiceRequest()).SerializeToString()


@pytest.mark.parametrize("key", list(_KINDS))
def test_protobuf_record_reads_one_attribute_of_every_kind_as_decoding_all_would(
    key: str,
) -> None:
    """``attribute(key)`` and ``pick`` give what the full attributes dict holds, per kind."""
    data = _proto_of(_KINDS)
    [one] = otlp_proto.decode_request(data)
    [whole] = otlp_proto.decode_request(data)
    expected = whole.attributes[key]
    assert one.attribute(key) == expected
    assert type(one.attribute(key)) is type(expected)
    assert one.pick(("missing", key)) == [(key, expected)]
    assert one.attribute("missing") is None


def test_protobuf_attributes_keep_the_order_they_came_in() -> None:
    """Decoding all attributes gives them in the sender's order, not a hash order."""
    keys = [f"key.{i:03d}" for i in range(40, 0, -1)]
    [record] = otlp_proto.decode_request(_proto_of({k: {"intValue": 1} for k in keys}))
    assert list(record.attributes) == keys


def test_unchanged_protobuf_records_are_encoded_byte_for_byte(sample_json: bytes) -> None:
    """Records nobody changed go out exactly as they came in, unknown fields included."""
    request = json_format.Parse(sample_json, ExportLogsServiceRequest())
    request.resource_logs[0].scope_logs[0].log_records[0].attributes.add(key="late")
    data = request.SerializeToString()
    records = otlp_proto.decode_request(data)
    assert otlp_proto.encode_request(LogBatch("acme", records)) == data


def test_a_changed_protobuf_record_is_encoded_from_its_fields(sample_json: bytes) -> None:
    """A record whose ``source`` was cleared is encoded from its (changed) attributes."""
    data = json_format.Parse(sample_json, ExportLogsServiceRequest()).SerializeToString()
    records = otlp_proto.decode_request(data)
    records[0].attributes["prompt"] = "[REDACTED]"
    records[0].source = None
    again = otlp_proto.decode_request(otlp_proto.encode_request(LogBatch("acme", records)))
    assert again[0].attribute("prompt") == "[REDACTED]"
    assert [_fields(r) for r in again[1:]] == [_fields(r) for r in records[1:]]


@pytest.mark.parametrize(
    ("body", "text"),
    [("claude_code.api_request", "claude_code.api_request"), ("", ""), (7, None),
     ([1, [2, 3]], None), ({"k": "v"}, None), (None, None)],
)  # fmt: skip
def test_a_protobuf_body_is_read_as_text_only_when_it_is_text(body: object, text: object) -> None:
    """``body_text`` is the body when it is a string, else None, whatever the encoding, and
    reading it from protobuf converts no other kind of body (an array of millions of values
    would cost seconds): the body is still unread afterwards."""
    from collector.pdata.records import _LAZY

    batch = LogBatch("acme", [LogRecord(body=body)])  # type: ignore[arg-type]
    (record,) = otlp_proto.decode_request(otlp_proto.encode_request(batch))
    assert record.body_text == text
    assert record._body is _LAZY  # type: ignore[attr-defined]
    assert record.body == body
    assert record.body_text == text
    assert LogRecord(body=body).body_text == text  # type: ignore[arg-type]
