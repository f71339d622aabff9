"""Specifications of config loading (files, --set, ${env:...}) and validation errors."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from collector.cli import load_config
from collector.cli.components import builtin_registry
from collector.component import ComponentID, Kind
from collector.confmap import ConfigError, load_files
from collector.service.config import Config, validate
from tests.conftest import REPO

GOOD = """\
extensions:
  apikeys:
    keys_file: keys.json
receivers:
  otlp:
    endpoint: 127.0.0.1:4318
    auth: apikeys
exporters:
  debug: {}
service:
  extensions: [apikeys]
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [debug]
"""

# A valid config without the apikeys extension, to vary one part at a time.
PLAIN = """\
receivers:
  otlp:
    endpoint: 127.0.0.1:4318
exporters:
  debug: {}
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [debug]
"""

OTLP = ComponentID("otlp")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return str(path)


def load(paths: list[str], overrides: list[str] | None = None) -> Config:
    return validate(load_files(paths, overrides), builtin_registry())


def problems_of(paths: list[str], overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(paths, overrides)
    assert info.value.problems, "a ConfigError must list at least one problem"
    return info.value.problems


def otlp_of(config: Config) -> Any:
    return config.component(Kind.RECEIVER, OTLP)


# --- loading: files, --set, ${env:...} --------------------------------------------------


def test_later_file_wins_on_a_scalar_and_mappings_merge(tmp_path: Path) -> None:
    """A later file replaces a scalar an earlier one set and keeps its sibling keys."""
    base = write(tmp_path, "base.yaml", GOOD.replace("auth: apikeys", "tenant: first"))
    overlay = write(tmp_path, "overlay.yaml", "receivers:\n  otlp:\n    endpoint: 0.0.0.0:9999\n")
    otlp = otlp_of(load([base, overlay]))
    assert otlp.endpoint == "0.0.0.0:9999"
    assert otlp.tenant == "first"


def test_later_file_replaces_a_list(tmp_path: Path) -> None:
    """Lists are values, not mappings: a later file's list replaces the earlier one whole."""
    base = write(tmp_path, "base.yaml", GOOD)
    overlay = write(tmp_path, "overlay.yaml", "receivers:\n  otlp:\n    logs_paths: [/only]\n")
    assert otlp_of(load([base, overlay])).logs_paths == ["/only"]


def test_set_overrides_one_key_and_keeps_its_siblings(tmp_path: Path) -> None:
    """``--set receivers.otlp.endpoint=...`` changes that key and nothing beside it."""
    config = load([write(tmp_path, "c.yaml", GOOD)], ["receivers.otlp.endpoint=0.0.0.0:4318"])
    assert otlp_of(config).endpoint == "0.0.0.0:4318"
    assert otlp_of(config).auth == ComponentID("apikeys")


def test_set_value_is_parsed_as_a_yaml_scalar(tmp_path: Path) -> None:
    """A ``--set`` value is read as YAML: an int stays an int, ``true`` is a bool."""
    overrides = ["receivers.otlp.max_request_body_size=1024", "receivers.otlp.tenant=true"]
    conf = load_files([write(tmp_path, "c.yaml", GOOD)], overrides)
    otlp = conf.data["receivers"]["otlp"]
    assert otlp["max_request_body_size"] == 1024
    assert type(otlp["max_request_body_size"]) is int
    assert otlp["tenant"] is True


def test_set_with_double_colons_allows_dots_in_component_ids(tmp_path: Path) -> None:
    """``::`` separates keys in ``--set`` so an id like ``file/a.b`` stays one key."""
    config = load([write(tmp_path, "c.yaml", GOOD)], ["exporters::file/a.b::path=out.jsonl"])
    exporter = config.component(Kind.EXPORTER, ComponentID("file", "a.b"))
    assert exporter.path == "out.jsonl"


def test_error_in_a_set_value_names_set_as_its_source(tmp_path: Path) -> None:
    """A bad value given with ``--set`` is reported against ``--set`` and its key path."""
    path = write(tmp_path, "c.yaml", GOOD)
    problems = problems_of([path], ["receivers.otlp.endpoint=nowhere"])
    assert len(problems) == 1
    assert problems[0].startswith("--set: receivers.otlp.endpoint: ")


def test_env_reference_inside_a_string_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``${env:VAR}`` inside a longer string is replaced by the variable's value."""
    monkeypatch.setenv("SC_TEST_DIR", "/var/sc")
    text = GOOD.replace("debug: {}", "file:\n    path: ${env:SC_TEST_DIR}/logs.jsonl")
    text = text.replace("exporters: [debug]", "exporters: [file]")
    config = load([write(tmp_path, "c.yaml", text)])
    assert config.component(Kind.EXPORTER, ComponentID("file")).path == "/var/sc/logs.jsonl"


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_env_default_is_used_when_the_variable_is_unset_or_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """``${env:VAR:-default}`` gives the default when VAR is unset or empty."""
    if value is None:
        monkeypatch.delenv("SC_TEST_TENANT", raising=False)
    else:
        monkeypatch.setenv("SC_TEST_TENANT", value)
    text = GOOD.replace("auth: apikeys", "auth: apikeys\n    tenant: ${env:SC_TEST_TENANT:-acme}")
    assert otlp_of(load([write(tmp_path, "c.yaml", text)])).tenant == "acme"


def test_a_reference_is_read_by_a_number_setting_as_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``${env:SIZE}`` of ``2048`` is 2048 bytes; ``${env:WAIT}`` of ``30`` is 30 s."""
    monkeypatch.setenv("SC_TEST_SIZE", "2048")
    monkeypatch.setenv("SC_TEST_WAIT", "30")
    text = GOOD.replace(
        "auth: apikeys",
        "auth: apikeys\n    max_request_body_size: ${env:SC_TEST_SIZE}\n"
        "    read_timeout: ${env:SC_TEST_WAIT}\n    tenant: t${env:SC_TEST_SIZE}",
    )
    otlp = otlp_of(load([write(tmp_path, "c.yaml", text)]))
    assert otlp.max_request_body_size == 2048
    assert otlp.read_timeout.total_seconds() == 30
    assert otlp.tenant == "t2048"


@pytest.mark.parametrize("secret", ["0123", "12345", "yes", "1.5", "null", "[a]"])
def test_a_string_setting_keeps_the_text_of_a_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    """A password or a tenant that looks like a number, a boolean or YAML stays as written."""
    monkeypatch.setenv("SC_TEST_TENANT", secret)
    text = GOOD.replace("auth: apikeys", "auth: apikeys\n    tenant: ${env:SC_TEST_TENANT}")
    assert otlp_of(load([write(tmp_path, "c.yaml", text)])).tenant == secret


def test_double_dollar_escapes_a_literal_dollar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``$$`` is one literal ``$``, so ``$${env:X}`` is left unexpanded."""
    monkeypatch.setenv("SC_TEST_X", "expanded")
    text = GOOD.replace(
        "auth: apikeys", "auth: apikeys\n    tenant: $${env:SC_TEST_X}\n    required_role: a$$b"
    )
    otlp = otlp_of(load([write(tmp_path, "c.yaml", text)]))
    assert otlp.tenant == "${env:SC_TEST_X}"
    assert otlp.required_role == "a$b"


# --- validation: each problem names its file and key path -------------------------------


def test_unknown_receiver_type_names_file_and_key(tmp_path: Path) -> None:
    """A receiver of an unregistered type is reported at ``receivers.<id>`` in its file."""
    path = write(tmp_path, "c.yaml", PLAIN.replace("receivers:\n", "receivers:\n  otlpx: {}\n"))
    [line] = problems_of([path])
    assert line.startswith(f"{path}: receivers.otlpx: ")
    assert "unknown receiver type 'otlpx'" in line


def test_unknown_key_in_a_component_names_file_and_key(tmp_path: Path) -> None:
    """A typo inside a component's settings is reported at its full key path."""
    path = write(tmp_path, "c.yaml", PLAIN.replace("endpoint:", "endpont:"))
    assert f"{path}: receivers.otlp.endpont: unknown key" in problems_of([path])


def test_mistyped_field_names_file_key_and_the_bad_value(tmp_path: Path) -> None:
    """``max_request_body_size: "lots"`` is reported at its key, quoting the bad value."""
    text = PLAIN.replace("4318\n", '4318\n    max_request_body_size: "lots"\n')
    path = write(tmp_path, "c.yaml", text)
    [line] = problems_of([path])
    assert line.startswith(f"{path}: receivers.otlp.max_request_body_size: ")
    assert "'lots'" in line


def test_missing_required_field_names_file_and_key(tmp_path: Path) -> None:
    """``apikeys`` without ``keys_file`` is reported at ``extensions.apikeys.keys_file``."""
    path = write(tmp_path, "c.yaml", GOOD.replace("    keys_file: keys.json\n", ""))
    lines = problems_of([path])
    assert f"{path}: extensions.apikeys.keys_file: required key is missing" in lines


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        ("receivers: [otlp, ghost]", 'receivers.1: references receiver "ghost"'),
        ("exporters: [debug, ghost]", 'exporters.1: references exporter "ghost"'),
    ],
)
def test_pipeline_referencing_an_undefined_component_names_the_entry(
    tmp_path: Path, listed: str, expected: str
) -> None:
    """A pipeline listing an id that no section defines is reported at that list entry."""
    path = write(tmp_path, "c.yaml", PLAIN.replace(listed.replace(", ghost", ""), listed))
    [line] = problems_of([path])
    assert line.startswith(f"{path}: service.pipelines.logs.{expected}")
    assert "not configured" in line


def test_auth_extension_not_enabled_in_service_names_the_auth_key(tmp_path: Path) -> None:
    """An ``auth:`` extension that is configured but not in service.extensions is an error."""
    path = write(tmp_path, "c.yaml", GOOD.replace("  extensions: [apikeys]\n", ""))
    [line] = problems_of([path])
    assert line.startswith(f"{path}: receivers.otlp.auth: ")
    assert "not enabled in service.extensions" in line


SIGNALS = """\
receivers:
  otlp:
    endpoint: 127.0.0.1:4318
processors:
  batch: {}
  cowork: {}
exporters:
  debug: {}
service:
  pipelines:
    logs:
      receivers: [otlp]
      processors: [cowork, batch]
      exporters: [debug]
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug]
    traces/claude:
      receivers: [otlp]
      exporters: [debug]
"""


def test_metrics_and_traces_pipelines_validate_beside_logs(tmp_path: Path) -> None:
    config = load([write(tmp_path, "c.yaml", SIGNALS)])
    assert sorted(config.service.pipelines) == ["logs", "metrics", "traces/claude"]


def test_a_processor_that_takes_only_logs_in_a_metrics_pipeline_names_the_entry(
    tmp_path: Path,
) -> None:
    text = SIGNALS.replace("      processors: [batch]\n", "      processors: [batch, cowork]\n")
    path = write(tmp_path, "c.yaml", text)
    [line] = problems_of([path])
    assert line.startswith(f"{path}: service.pipelines.metrics.processors.1: ")
    assert 'processor "cowork" does not support metrics (only logs)' in line


def test_a_pipeline_of_an_unknown_signal_names_the_three(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", PLAIN.replace("    logs:", "    profiles:"))
    [line] = problems_of([path])
    assert "service.pipelines" in line
    assert "'logs', 'metrics', 'traces'" in line


def test_a_service_field_error_and_a_reference_error_are_reported_in_one_pass(
    tmp_path: Path,
) -> None:
    text = PLAIN.replace("exporters: [debug]", "exporters: [debug, ghost]") + (
        "  telemetry:\n    logs:\n      level: loud\n"
    )
    lines = problems_of([write(tmp_path, "c.yaml", text)])
    assert len(lines) == 2, lines
    assert any("service.telemetry.logs.level" in line for line in lines)
    assert any('references exporter "ghost"' in line for line in lines)


def test_unknown_top_level_section_names_file_and_section(tmp_path: Path) -> None:
    """A top-level key that is no section (e.g. ``processor:``) is reported by name."""
    path = write(tmp_path, "c.yaml", PLAIN + "processor: {}\n")
    [line] = problems_of([path])
    assert line.startswith(f"{path}: processor: unknown section")


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    """A YAML syntax error is reported with its file and line number."""
    path = write(tmp_path, "c.yaml", "receivers:\n  otlp:\n\tendpoint: x\n")
    [line] = problems_of([path])
    assert line.startswith(f"{path}: line 3")
    assert "invalid YAML" in line


def test_missing_service_section_names_file(tmp_path: Path) -> None:
    """A config without ``service:`` is reported as missing that section."""
    path = write(tmp_path, "c.yaml", PLAIN.split("service:")[0])
    assert problems_of([path]) == [f"{path}: service: required section is missing"]


def test_error_names_the_file_that_set_the_bad_key(tmp_path: Path) -> None:
    """With several files, each problem names the file that set the offending key."""
    base = write(tmp_path, "base.yaml", PLAIN.replace("endpoint:", "endpont:"))
    overlay = write(tmp_path, "overlay.yaml", "receivers:\n  otlp:\n    tenant: [not, a, str]\n")
    lines = problems_of([base, overlay])
    assert any(line.startswith(f"{base}: receivers.otlp.endpont: ") for line in lines)
    assert any(line.startswith(f"{overlay}: receivers.otlp.tenant: ") for line in lines)
    assert len(lines) == 2


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    """Two independent mistakes give exactly two problem lines, one each."""
    text = PLAIN + "  telemetry:\n    logs:\n      level: loud\nbogus: 1\n"
    path = write(tmp_path, "c.yaml", text)
    lines = problems_of([path])
    assert len(lines) == 2, lines
    assert all("\n" not in line for line in lines)
    assert any(line.startswith(f"{path}: bogus: ") for line in lines)
    assert any(line.startswith(f"{path}: service.telemetry.logs.level: ") for line in lines)


def test_invalid_component_is_not_also_reported_as_unconfigured(tmp_path: Path) -> None:
    """One typo in a receiver a pipeline uses gives one line, not a second "not configured"."""
    path = write(tmp_path, "c.yaml", PLAIN.replace("endpoint:", "endpont:"))
    assert problems_of([path]) == [f"{path}: receivers.otlp.endpont: unknown key"]


# --- shipped configurations ------------------------------------------------------------


def test_builtin_default_config_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded default config is valid: otlp with apikeys -> memory_limiter -> cowork ->
    redaction -> batch -> embedded clickhouse behind a write-ahead queue, with the sessions
    API."""
    for name in ("KEYS_FILE", "OTLP_ENDPOINT", "DATA_DIR", "API_ENDPOINT", "MEMORY_LIMIT_MIB"):
        monkeypatch.delenv(f"SESSION_COLLECTOR_{name}", raising=False)
    config = load_config([])
    assert otlp_of(config).endpoint == "127.0.0.1:4318"
    assert config.service.extensions == [
        ComponentID("apikeys"),
        ComponentID("sessions_api"),
        ComponentID("health_check"),
    ]
    pipeline = config.service.pipelines["logs"]
    assert [str(p) for p in pipeline.processors] == [
        "memory_limiter", "cowork", "redaction", "batch",
    ]  # fmt: skip
    limiter = config.component(Kind.PROCESSOR, ComponentID("memory_limiter"))
    assert limiter.limit_mib == 4096  # type: ignore[attr-defined]
    exporter = config.component(Kind.EXPORTER, ComponentID("clickhouse"))
    assert exporter.endpoint == "chdb://./data/clickhouse"  # type: ignore[attr-defined]
    assert exporter.sending_queue.write_ahead  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: Path(p).name
)
def test_shipped_config_file_validates(path: Path) -> None:
    """Every example config under config/ loads and validates."""
    config = load([str(path)])
    assert config.service.pipelines
