"""The views that derive every column of ``otel_logs`` from what the fast insert path
writes into ``otel_logs_ingest`` (:mod:`collector.sessions.clickhouse.ingest`), by the
rules of the Python path (:mod:`collector.sessions.clickhouse.rows`,
:mod:`collector.sessions.events`); a test holds the two to the same rows.

The SQL is generated, in steps shaped by what chDB measured: ClickHouse analyses a
materialized view's query on every insert, at about 1 ms per expression node on this build,
so per-attribute rules are lambdas over arrays (analysed once), every attribute list is
rendered by one use of the rendering lambda, and the work is split into two views through a
``Null`` table; and no lambda reaches into the attributes (it would copy them once per key).
"""

from __future__ import annotations

from collector.sessions.clickhouse.ingest import KVS, STAGE, TABLE, VIEW
from collector.sessions.clickhouse.rows import INT64_MAX, INT64_MIN, INT_RANGES, TIME_MAX_NS


def _json2(v: str) -> str:
    """A level-two value (scalars; deeper arrays and maps as base64 protobuf) as JSON."""
    return (
        f"multiIf({v}.kind = 1, toJSONString({v}.string_value), "
        f"{v}.kind = 2, if({v}.bool_value, 'true', 'false'), "
        f"{v}.kind = 3, toString({v}.int_value), "
        f"{v}.kind = 4, if(isFinite({v}.double_value), "
        f"toString({v}.double_value), 'null'), "
        f"{v}.kind = 7, toJSONString(base64Encode({v}.bytes_value)), "
        f"{v}.kind = 5, toJSONString(base64Encode({v}.array_value)), "
        f"{v}.kind = 6, toJSONString(base64Encode({v}.kvlist_value)), 'null')"
    )


def _text(v: str) -> str:
    """A value as the text an attribute map holds (``rows.as_string``)."""
    array = (
        f"concat('[', arrayStringConcat(arrayMap(e -> {_json2('e')}, "
        f"{v}.array_value.values), ','), ']')"
    )
    kvlist = (
        f"concat('{{', arrayStringConcat(arrayMap(e -> concat(toJSONString(e.key), ':', "
        f"{_json2('e.value')}), {v}.kvlist_value.values), ','), '}}')"
    )
    return (
        f"multiIf({v}.kind = 1, {v}.string_value, "
        f"{v}.kind = 2, if({v}.bool_value, 'true', 'false'), "
        f"{v}.kind = 3, toString({v}.int_value), "
        f"{v}.kind = 4, toString({v}.double_value), "
        f"{v}.kind = 7, base64Encode({v}.bytes_value), "
        f"{v}.kind = 5, {array}, "
        f"{v}.kind = 6, {kvlist}, '')"
    )


def _map(kvs: str) -> str:
    """Attributes as a map of their texts. Most hold only strings and numbers: those are
    rendered from the value's scalar columns alone; the others through :func:`_text`."""
    scalars = (
        "arrayMap((k, s, b, i, d) -> multiIf(k = 1, s, k = 2, if(b, 'true', 'false'), "
        "k = 3, toString(i), k = 4, toString(d), ''), "
        f"{kvs}.value.kind, {kvs}.value.string_value, {kvs}.value.bool_value, "
        f"{kvs}.value.int_value, {kvs}.value.double_value)"
    )
    complex_values = f"arrayExists(k -> k >= 5, {kvs}.value.kind)"
    texts = f"if({complex_values}, arrayMap(kv -> {_text('kv.value')}, {kvs}), {scalars})"
    return f"mapFromArrays({kvs}.key, {texts})"


#: attributes read as text (``agent_events._text``): what the text columns come from
_TEXT_KEYS = (
    "session.id", "prompt.id", "tool_use_id", "user.id", "user.email", "organization.id",
    "app.version", "model",
)  # fmt: skip
_RESOURCE_KEYS = ("service.name", "service.version", "user.email", "organization.id")
#: integer columns: (column, attribute, lowest, highest, empty, ClickHouse type)
_INTS = tuple(
    (column, key, *INT_RANGES[column], ch_type)  # the ranges are the Python path's
    for column, key, ch_type in (
        ("Sequence", "event.sequence", "Int64"),
        ("InputTokens", "input_tokens", "UInt64"),
        ("OutputTokens", "output_tokens", "UInt64"),
        ("CacheReadTokens", "cache_read_tokens", "UInt64"),
        ("CacheCreationTokens", "cache_creation_tokens", "UInt64"),
        ("PromptLength", "prompt_length", "UInt64"),
        ("StatusCode", "status_code", "Int32"),
    )
)
#: attributes read as numbers; the first ones are the integer columns'
_NUM_KEYS = (*(key for _c, key, *_r in _INTS), "cost_usd_micros", "cost_usd", "duration_ms")
_BIG = "toInt256('1' || repeat('0', 75))"


def _num(key: str) -> int:
    """1-based index of a numeric attribute in the step's arrays."""
    return _NUM_KEYS.index(key) + 1


def _txt(key: str) -> str:
    return f"texts[{_TEXT_KEYS.index(key) + 1}]"


def _res(key: str) -> str:
    return f"res_texts[{_RESOURCE_KEYS.index(key) + 1}]"


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _event_time(s: str) -> str:
    """``agent_events._event_time``: an ISO 8601 text with a zone, in ns; 0 otherwise.
    Beyond what DateTime64(9) parses (1900 to 2262) it is -1: out of range."""
    parsed = f"parseDateTime64BestEffortOrNull({s}, 9, 'UTC')"
    wide = f"parseDateTime64BestEffortOrNull({s}, 0, 'UTC')"
    return (
        f"if(match({s}, '(Z|z|[+-][0-9][0-9](:?[0-9][0-9])?)$'), "
        f"ifNull(toInt64(toUnixTimestamp64Nano({parsed})), if(isNull({wide}), 0, -1)), 0)"
    )


def view_sql() -> list[str]:
    """The statements that create the views deriving every column of ``otel_logs`` from
    :data:`TABLE`, in an order where nothing is inserted before its reader exists.

    ClickHouse analyses a view's query on every insert, at a cost that grows with the number
    of expressions in it, so the query is written in steps that each name what the next one
    reads, and work that repeats per attribute is one lambda over an array (analysed once):
    the records flattened, attributes looked up and rendered; their text and numeric forms;
    the numbers parsed; the columns, with what does not fit emptied."""
    # every attribute list (the record's, its body, its scope's, its resource's) is rendered
    # by one use of the rendering lambda: ClickHouse analyses each use on every insert
    resources = (
        "SELECT tenant, rl.schema_url AS resource_schema_url, rl.scope_logs AS scope_logs, "
        "rl.resource.attributes AS resource_attributes, "
        "mapFromArrays(rl.resource.attributes.key, rl.resource.attributes.value.kind) "
        "AS res_kinds, "
        "cityHash64(rl.resource, rl.schema_url) AS resource_hash "
        f"FROM {TABLE} ARRAY JOIN resource_logs AS rl"
    )
    scopes = (
        "SELECT tenant, resource_schema_url, resource_attributes, res_kinds, resource_hash, "
        "sl.scope.name AS scope_name, sl.scope.version AS scope_version, "
        "sl.schema_url AS scope_schema_url, sl.log_records AS log_records, "
        "sl.scope.attributes AS scope_attributes, "
        "cityHash64(resource_hash, sl.scope, sl.schema_url) AS scope_hash "
        f"FROM ({resources}) ARRAY JOIN scope_logs AS sl"
    )
    flat = (
        "SELECT tenant, resource_schema_url, res_kinds, scope_name, scope_version, "
        "scope_schema_url, scope_attributes, resource_attributes, "
        "lr.time_unix_nano AS time, lr.observed_time_unix_nano AS observed, "
        "lr.severity_number AS severity_number, lr.severity_text AS severity_text, "
        "lr.flags AS flags, lr.trace_id AS trace_id, lr.span_id AS span_id, "
        "lr.event_name AS event_name, lr.body.kind = 1 AS body_is_text, "
        "lr.body.string_value AS body_string, "
        "cityHash64(scope_hash, lr) AS content, "
        f"arrayMap(kvs -> {_map('kvs')}, [lr.attributes, "
        f"CAST([tuple('', lr.body)], {_quoted(KVS)}), scope_attributes, resource_attributes]) "
        "AS maps, "
        "mapFromArrays(lr.attributes.key, lr.attributes.value.kind) AS kinds "
        f"FROM ({scopes}) ARRAY JOIN log_records AS lr"
    )
    flat = (
        "SELECT *, maps[1] AS attrs, maps[2][''] AS body_text, maps[3] AS scope_attrs, "
        f"maps[4] AS res_attrs FROM ({flat})"
    )

    # each attribute the columns need, looked up in the rendered map and the map of kinds;
    # the rules are lambdas over arrays of those (ClickHouse analyses every expression of a
    # view on every insert, slowly, and a lambda once; and a lambda that reached into the
    # attributes themselves would copy them once per key)
    def looked(keys: tuple[str, ...], texts: str, kinds: str) -> str:
        return (
            f"[{', '.join(f'toInt8({kinds}[{k!r}])' for k in keys)}], "
            f"[{', '.join(f'{texts}[{k!r}]' for k in keys)}]"
        )

    scalar_text = "(k, v) -> if(k BETWEEN 1 AND 4, v, '')"
    number_text = (
        "(k, v) -> multiIf(k = 2, if(v = 'true', '1', '0'), k BETWEEN 1 AND 4, trimBoth(v), '')"
    )
    texts = (
        f"SELECT *, arrayMap({scalar_text}, {looked(_TEXT_KEYS, 'attrs', 'kinds')}) AS texts, "
        f"arrayMap({scalar_text}, {looked(_RESOURCE_KEYS, 'res_attrs', 'res_kinds')}) "
        "AS res_texts, "
        f"arrayMap({number_text}, {looked(_NUM_KEYS, 'attrs', 'kinds')}) AS numbers, "
        "if(toInt8(kinds['event.name']) = 1, attrs['event.name'], '') AS event_attr, "
        "if(toInt8(kinds['event.timestamp']) = 1, attrs['event.timestamp'], '') AS ts_attr, "
        "toInt8(kinds['success']) AS success_kind, attrs['success'] AS success_text, "
        "toInt8(kinds['event.sequence']) != 0 AS has_sequence "
        f"FROM ({flat})"
    )
    parsed = (
        "SELECT *, arrayMap(n -> toInt256OrNull(n), numbers) AS as_int, "
        "arrayMap(n -> toFloat64OrNull(n), numbers) AS as_float, "
        f"{_event_time('ts_attr')} AS event_ns, "
        "if(time != 0, time, observed) AS ts_raw "
        f"FROM ({texts})"
    )
    # agent_events._int: the integer, else a finite float truncated (beyond 1e75: 1e75), else
    # NULL; agent_events._float: a finite float, else 0
    ints = (
        "arrayMap((i, f) -> if(isNotNull(i), i, if(isFinite(ifNull(f, nan)), "
        f"if(abs(f) < 1e75, toInt256(trunc(f)), if(f > 0, {_BIG}, -{_BIG})), NULL)), "
        "as_int, as_float)"
    )
    floats = "arrayMap(f -> if(isFinite(ifNull(f, nan)), f, 0), as_float)"
    lows = ", ".join(str(low) for _c, _k, low, *_r in _INTS)
    highs = ", ".join(str(high) for _c, _k, _l, high, *_r in _INTS)
    empties = ", ".join(str(empty) for *_f, empty, _t in _INTS)
    micros = _num("cost_usd_micros")
    cost = _num("cost_usd")
    ts = f"if(ts_raw <= {TIME_MAX_NS}, ts_raw, if(observed <= {TIME_MAX_NS}, observed, 0))"
    et_raw = f"if(event_ns != 0, event_ns, toInt64(least(ts_raw, {INT64_MAX})))"
    fitted = (
        f"SELECT *, {ints} AS int_values, {floats} AS float_values, "
        f"arraySlice(int_values, 1, {len(_INTS)}) AS column_ints, "
        f"arrayMap((x, lo, hi, e) -> if(isNotNull(x) AND x BETWEEN lo AND hi, x, e), "
        f"column_ints, [{lows}], [{highs}], [{empties}]) AS fitted_ints, "
        f"arrayMap((x, lo, hi) -> isNotNull(x) AND NOT (x BETWEEN lo AND hi), "
        f"column_ints, [{lows}], [{highs}]) AS ints_out, "
        f"if(ifNull(int_values[{micros}], 0) != 0, int_values[{micros}], "
        f"if(abs(float_values[{cost}] * 1000000) < 1e75, "
        f"toInt256(round(float_values[{cost}] * 1000000)), {_BIG})) AS micros_raw, "
        f"{ts} AS ts_fit, {et_raw} AS et_raw, "
        f"et_raw BETWEEN 0 AND {TIME_MAX_NS} AS et_fits, "
        f"micros_raw BETWEEN {INT64_MIN} AND {INT64_MAX} AS micros_fits, "
        "multiIf(event_name != '', event_name, body_is_text AND "
        "startsWith(body_string, 'claude_code.'), body_string, event_attr) AS event_full, "
        # ClientVersion, UserEmail, Org: the first non-empty of two
        "arrayMap((a, b) -> if(a != '', a, b), "
        f"[{_res('service.version')}, {_txt('user.email')}, {_txt('organization.id')}], "
        f"[{_txt('app.version')}, {_res('user.email')}, {_res('organization.id')}]) "
        "AS either "
        f"FROM ({parsed})"
    )
    success = (
        "toInt8(multiIf(success_kind = 2, toInt8(success_text = 'true'), "
        "success_kind = 3, toInt8(toInt64OrZero(success_text) != 0), "
        "success_kind = 4, toInt8(toFloat64OrZero(success_text) != 0), "
        "success_kind = 1 AND lower(trimBoth(success_text)) IN ('true', '1', 'yes'), 1, "
        "success_kind = 1 AND lower(trimBoth(success_text)) IN ('false', '0', 'no'), 0, -1))"
    )
    et_fits = "et_fits"
    micros_fits = "micros_fits"
    int_names = ", ".join(f"'{c}'" for c, *_r in _INTS)
    cols = [
        "fromUnixTimestamp64Nano(toInt64(ts_fit)) AS Timestamp",
        "lower(hex(trace_id)) AS TraceId",
        "lower(hex(span_id)) AS SpanId",
        "toUInt8(bitAnd(flags, 255)) AS TraceFlags",
        "severity_text AS SeverityText",
        "toUInt8(if(severity_number BETWEEN 0 AND 255, severity_number, 0)) AS SeverityNumber",
        "res_attrs['service.name'] AS ServiceName",
        "body_text AS Body",
        "resource_schema_url AS ResourceSchemaUrl",
        "res_attrs AS ResourceAttributes",
        "scope_schema_url AS ScopeSchemaUrl",
        "scope_name AS ScopeName",
        "scope_version AS ScopeVersion",
        "scope_attrs AS ScopeAttributes",
        "attrs AS LogAttributes",
        "if(startsWith(event_full, 'claude_code.'), substring(event_full, 13), event_full) "
        "AS EventName",
        "tenant AS Tenant",
        f"{_txt('session.id')} AS SessionId",
        f"{_txt('prompt.id')} AS PromptId",
        f"transform({_res('service.name')}, ['claude-code', 'claude-code-desktop', 'cowork'], "
        f"['Claude Code', 'Claude Code Desktop', 'Claude Cowork'], {_res('service.name')}) "
        "AS Client",
        "either[1] AS ClientVersion",
        f"{_txt('user.id')} AS UserId",
        "either[2] AS UserEmail",
        "either[3] AS Org",
        f"{_txt('tool_use_id')} AS ToolUseId",
        f"{_txt('model')} AS Model",
        f"fromUnixTimestamp64Nano(toInt64(if({et_fits}, et_raw, ts_fit))) AS EventTime",
        f"float_values[{cost}] AS CostUsd",
        f"toInt64(if({micros_fits}, micros_raw, 0)) AS CostMicros",
        f"float_values[{_num('duration_ms')}] AS DurationMs",
        f"{success} AS Success",
    ]
    cols += [
        f"to{ch_type}(fitted_ints[{i + 1}]) AS {column}"
        for i, (column, _k, _l, _h, _e, ch_type) in enumerate(_INTS)
    ]
    cols.append(
        f"arrayFilter((n, o) -> o, [{int_names}, 'Timestamp', 'EventTime', 'SeverityNumber', "
        f"'CostMicros'], arrayConcat(ints_out, [ts_raw > {TIME_MAX_NS}, NOT et_fits, "
        "NOT (severity_number BETWEEN 0 AND 255), NOT micros_fits])) AS ValuesOutOfRange"
    )
    cols.append(
        f"if({_txt('session.id')} != '' AND has_sequence "
        "AND Sequence >= 0, 0, if(content = 0, 1, content)) AS ContentHash"
    )
    # two views, through a Null table between them: ClickHouse analyses one query built of
    # many nested steps much more slowly than the same steps split in two
    return [
        f"CREATE TABLE IF NOT EXISTS {STAGE} ENGINE = Null AS {fitted}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {STAGE}_mv TO otel_logs AS "
        f"SELECT {', '.join(cols)} FROM {STAGE}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {VIEW} TO {STAGE} AS {fitted}",
    ]
