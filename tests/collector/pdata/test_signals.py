"""The metrics and traces codecs: OTLP/JSON read as the OTLP specification writes it (and as
protobuf's own JSON parser reads it, ids in hex aside), what cannot fit refused naming the
field, and every batch encoded back to the request it came from."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.consumererror import DecodeError, TooMuchInRequest
from collector.pdata import signals
from collector.pdata.records import MAX_MESSAGE_DEPTH, RequestLimits

CAPTURES = Path(__file__).parents[2] / "data" / "claude-code-2.1.197-write"


def oracle(cls: Any, data: bytes) -> Any:
    """protobuf's own JSON parser, with OTLP's hex ids turned into its base64 first."""

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                else:
                    fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    doc = orjson.loads(data)
    fix(doc)
    return json_format.ParseDict(doc, cls())


@pytest.mark.parametrize(("signal", "cls"), [("metrics", ExportMetricsServiceRequest),
                                             ("traces", ExportTraceServiceRequest)])  # fmt: skip
def test_a_real_otlp_json_export_decodes_as_protobufs_own_parser_reads_it(
    signal: str, cls: Any
) -> None:
    data = (CAPTURES / "http-json" / f"{signal}.json").read_bytes()
    items = signals.DECODERS[(signals.Signal(signal), "json")](data, None)
    batch: Any = signals.batch_of(signal, "t", items)
    assert cls.FromString(batch.to_proto()) == oracle(cls, data)


@pytest.mark.parametrize(("signal", "cls"), [("metrics", ExportMetricsServiceRequest),
                                             ("traces", ExportTraceServiceRequest)])  # fmt: skip
def test_a_batch_encodes_back_to_the_request_it_came_from(signal: str, cls: Any) -> None:
    data = (CAPTURES / "grpc" / f"{signal}.pb").read_bytes()
    items = signals.DECODERS[(signals.Signal(signal), "proto")](data, None)
    batch: Any = signals.batch_of(signal, "t", items)
    assert cls.FromString(batch.to_proto()) == cls.FromString(data)
    again = signals.DECODERS[(signals.Signal(signal), "json")](batch.to_json(), None)
    assert cls.FromString(signals.batch_of(signal, "t", again).to_proto()) == cls.FromString(data)  # type: ignore[union-attr]


def gauge(point: dict[str, Any]) -> bytes:
    doc = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "g", "gauge": {"dataPoints": [point]}}]}]}]}  # fmt: skip
    return orjson.dumps(doc)


def test_doubles_may_be_nan_or_infinity_and_integers_strings() -> None:
    (p,) = signals.decode_metrics_json(
        gauge({"asDouble": "NaN", "timeUnixNano": "18446744073709551615"})
    )
    assert math.isnan(p.pb.as_double) and p.pb.time_unix_nano == 2**64 - 1
    (q,) = signals.decode_metrics_json(gauge({"asDouble": "-Infinity", "timeUnixNano": 5}))
    assert q.pb.as_double == -math.inf and q.pb.time_unix_nano == 5


def test_enums_may_be_numbers_or_names() -> None:
    def span(kind: Any) -> bytes:
        return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": kind}]}]}]})

    assert signals.decode_traces_json(span(2))[0].pb.kind == 2
    assert signals.decode_traces_json(span("SPAN_KIND_CLIENT"))[0].pb.kind == 3


def test_unknown_fields_and_nulls_are_ignored() -> None:
    (p,) = signals.decode_metrics_json(
        gauge({"asInt": "7", "futureField": {"x": 1}, "flags": None})
    )
    assert p.pb.as_int == 7


@pytest.mark.parametrize(
    ("point", "field"),
    [
        ({"timeUnixNano": "soon"}, "timeUnixNano: expected an integer"),
        ({"timeUnixNano": "18446744073709551616"}, "timeUnixNano: out of range"),
        ({"timeUnixNano": -1}, "timeUnixNano: out of range"),
        ({"asDouble": "lots"}, "asDouble: expected a number"),
        ({"asDouble": True}, "asDouble: expected a number"),
        ({"attributes": {"key": "a"}}, "attributes: expected a list"),
        ({"exemplars": [{"traceId": "xyz"}]}, "traceId: expected hex"),
        ({"exemplars": [{"spanId": 12}]}, "spanId: expected a string"),
    ],
)
def test_a_value_that_does_not_fit_is_refused_naming_the_field(
    point: dict[str, Any], field: str
) -> None:
    with pytest.raises(DecodeError) as info:
        signals.decode_metrics_json(gauge(point))
    assert "ExportMetricsServiceRequest" in info.value.message
    assert field in info.value.message


def nested(levels: int) -> bytes:
    """A data point with an attribute nesting ``levels`` key-value lists."""
    value = '{"kvlistValue":{"values":[{"key":"k","value":' * levels
    value += '{"stringValue":"leaf"}' + "}]}}" * levels
    body = gauge({"attributes": [{"key": "deep", "value": "VALUE"}]})
    return body.replace(b'"VALUE"', value.encode())


def test_json_takes_the_nesting_protobuf_takes_and_every_later_stage_decodes() -> None:
    # a data point's attribute value is 7 messages deep, a key-value list level 3 more: 31
    # levels reach MAX_MESSAGE_DEPTH exactly
    levels = (MAX_MESSAGE_DEPTH - 7) // 3
    points = signals.decode_metrics_json(nested(levels))
    assert len(signals.decode_metrics(signals.MetricsBatch("t", points).to_proto())) == 1
    with pytest.raises(DecodeError) as info:
        signals.decode_metrics_json(nested(levels + 1))
    assert "nested" in info.value.message


def test_not_json_or_not_an_object_is_refused() -> None:
    for data in (b"{", b"[]", b'"x"'):
        with pytest.raises(DecodeError):
            signals.decode_traces_json(data)


def test_more_items_than_allowed_are_refused_before_they_are_built() -> None:
    data = (CAPTURES / "grpc" / "traces.pb").read_bytes()
    with pytest.raises(TooMuchInRequest) as info:
        signals.decode_traces(data, RequestLimits(records=5, attributes=1000))
    assert info.value.setting == "max_records_per_request"
    with pytest.raises(TooMuchInRequest) as info:
        signals.decode_traces(data, RequestLimits(records=1000, attributes=10))
    assert info.value.setting == "max_attributes_per_request"


def test_invalid_protobuf_is_refused_naming_the_message() -> None:
    with pytest.raises(DecodeError) as info:
        signals.decode_metrics(b"\x0a\xff\xff\xff")
    assert "ExportMetricsServiceRequest" in info.value.message


@pytest.mark.parametrize(("signal", "cls"), [("metrics", ExportMetricsServiceRequest),
                                             ("traces", ExportTraceServiceRequest)])  # fmt: skip
def test_otlp_json_is_written_as_protobufs_own_json_with_ids_in_hex(signal: str, cls: Any) -> None:
    data = (CAPTURES / "grpc" / f"{signal}.pb").read_bytes()
    batch: Any = signals.batch_of(
        signal, "t", signals.DECODERS[(signals.Signal(signal), "proto")](data, None)
    )
    expected = json_format.MessageToDict(cls.FromString(data), use_integers_for_enums=True)

    def hex_ids(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId")
                    else hex_ids(v) for k, v in node.items()}  # fmt: skip
        return [hex_ids(v) for v in node] if isinstance(node, list) else node

    assert orjson.loads(batch.to_json()) == hex_ids(expected)


def test_non_finite_doubles_are_written_as_otlp_json_names_them() -> None:
    points = signals.decode_metrics_json(gauge({"asDouble": "-Infinity"}))
    written = orjson.loads(signals.MetricsBatch("t", points).to_json())
    point = written["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0]
    assert point["asDouble"] == "-Infinity"
