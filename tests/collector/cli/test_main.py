"""The ``session-collector`` command as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLI

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

# Two independent mistakes: an unknown section and a bad log level.
BAD = GOOD.replace("  pipelines:", "  telemetry:\n    logs:\n      level: loud\n  pipelines:")
BAD += "bogus: 1\n"
CREATE = ("keys", "create", "--org", "acme", "--name", "laptop", "--json")
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path, clean_env: dict[str, str]) -> Run:
    """Run the installed console script in ``tmp_path``; returns the completed process."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=clean_env,
            timeout=60,
            check=False,
        )

    return run


def create_key(cli: Run, keys_file: Path, *extra: str) -> dict[str, Any]:
    result = cli(*CREATE, "--keys-file", str(keys_file), *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def list_keys(cli: Run, keys_file: Path) -> tuple[str, list[dict[str, Any]]]:
    result = cli("keys", "list", "--keys-file", str(keys_file), "--json")
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(result.stdout)


# --- validate / components ---------------------------------------------------------------


def test_validate_good_config_exits_zero(cli: Run, tmp_path: Path) -> None:
    """``validate --config good.yaml`` succeeds and prints nothing on stderr."""
    (tmp_path / "good.yaml").write_text(GOOD)
    result = cli("validate", "--config", "good.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_validate_bad_config_prints_one_line_per_problem_naming_file_and_key(
    cli: Run, tmp_path: Path
) -> None:
    """``validate`` on a config with two mistakes fails with two stderr lines, file and key."""
    (tmp_path / "bad.yaml").write_text(BAD)
    result = cli("validate", "--config", "bad.yaml")
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert any(line.startswith("bad.yaml: bogus: ") for line in lines)
    assert any(line.startswith("bad.yaml: service.telemetry.logs.level: ") for line in lines)
    assert "Traceback" not in result.stderr


def test_validate_applies_set_overrides(cli: Run, tmp_path: Path) -> None:
    """A ``--set`` that breaks a good config makes ``validate`` fail, naming ``--set``."""
    (tmp_path / "good.yaml").write_text(GOOD)
    result = cli("validate", "--config", "good.yaml", "--set", "receivers.otlp.endpoint=nowhere")
    assert result.returncode != 0
    assert result.stderr.startswith("--set: receivers.otlp.endpoint: ")


def test_components_lists_the_builtin_types_by_kind(cli: Run) -> None:
    """``components`` lists otlp as a receiver, file and debug as exporters, apikeys."""
    result = cli("components")
    assert result.returncode == 0, result.stderr
    by_kind: dict[str, list[str]] = {}
    kind = ""
    for line in result.stdout.splitlines():
        if line and not line.startswith(" "):
            kind = line.rstrip(":")
            by_kind[kind] = []
        elif line.strip():
            by_kind[kind].append(line.split()[0])
    assert "otlp" in by_kind["receivers"]
    assert {"file", "debug"} <= set(by_kind["exporters"])
    assert "apikeys" in by_kind["extensions"]


def test_components_start_every_description_in_one_column(cli: Run) -> None:
    rows = [line for line in cli("components").stdout.splitlines() if line.startswith("  ")]
    columns = {len(line) - len(line[2:].split(" ", 1)[1].lstrip()) for line in rows}
    assert len(columns) == 1, rows
    assert any(line.split()[0] == "memory_limiter" for line in rows)


def test_components_names_the_signals_each_type_takes(cli: Run) -> None:
    lines = {line.split()[0]: line for line in cli("components").stdout.splitlines() if line}
    assert lines["otlp"].endswith("[logs, metrics, traces]")
    assert lines["cowork"].endswith("[logs]")
    assert lines["redaction"].endswith("[logs, traces]")


# --- keys ------------------------------------------------------------------------------


def test_keys_create_json_prints_one_object_with_id_and_secret(cli: Run, tmp_path: Path) -> None:
    """``keys create --json`` prints one JSON object whose ``key`` is ``sck_<id>_...``."""
    result = cli(*CREATE, "--keys-file", str(tmp_path / "keys.json"))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    created = json.loads(result.stdout)
    assert isinstance(created, dict)
    assert created["id"]
    assert created["key"].startswith(f"sck_{created['id']}_")
    assert created["org"] == "acme"
    assert created["name"] == "laptop"


def test_keys_file_is_private_and_holds_the_id_but_not_the_secret(cli: Run, tmp_path: Path) -> None:
    """The keys file is mode 0600 and stores the key's id and a hash, never its secret."""
    keys_file = tmp_path / "keys.json"
    created = create_key(cli, keys_file)
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    text = keys_file.read_text()
    secret_part = created["key"][len(f"sck_{created['id']}_") :]
    assert created["id"] in text
    assert created["key"] not in text
    assert secret_part not in text
    [stored] = json.loads(text)["keys"]
    assert stored["id"] == created["id"]
    assert stored["hash"]
    assert secret_part not in stored["hash"]


def test_repeated_role_gives_several_roles(cli: Run, tmp_path: Path) -> None:
    """``--role`` given twice makes a key with both roles, in order."""
    keys_file = tmp_path / "keys.json"
    created = create_key(cli, keys_file, "--role", "mcp_watch_scan", "--role", "sessions_read")
    assert created["roles"] == ["mcp_watch_scan", "sessions_read"]
    _, listed = list_keys(cli, keys_file)
    assert listed[0]["roles"] == ["mcp_watch_scan", "sessions_read"]


def test_an_unknown_role_is_refused_naming_the_known_ones(cli: Run, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    args = ["keys", "create", "--keys-file", str(keys_file), "--org", "acme", "--name", "me"]
    result = cli(*args, "--role", "bogus_role")
    assert result.returncode != 0
    assert "unknown role 'bogus_role'" in result.stderr
    assert "mcp_watch_scan, sessions_read" in result.stderr
    assert not keys_file.exists()


def test_a_custom_role_is_taken_when_allowed(cli: Run, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    created = create_key(cli, keys_file, "--role", "ingest_eu", "--allow-custom-role")
    assert created["roles"] == ["ingest_eu"]


def test_personal_key_without_user_fails_with_a_clear_message(cli: Run, tmp_path: Path) -> None:
    """``--personal`` without ``--user`` fails, says ``--user`` is needed, writes no key."""
    keys_file = tmp_path / "keys.json"
    args = ["keys", "create", "--keys-file", str(keys_file), "--org", "acme", "--name", "me"]
    result = cli(*args, "--personal")
    assert result.returncode != 0
    assert "--user" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not keys_file.exists()


def test_keys_list_json_shows_the_key_without_secret_or_hash(cli: Run, tmp_path: Path) -> None:
    """``keys list --json`` shows the key's id, org and name but no secret and no hash."""
    keys_file = tmp_path / "keys.json"
    created = create_key(cli, keys_file)
    stored_hash = json.loads(keys_file.read_text())["keys"][0]["hash"]
    stdout, listed = list_keys(cli, keys_file)
    [entry] = listed
    assert (entry["id"], entry["org"], entry["name"]) == (created["id"], "acme", "laptop")
    assert entry["revoked_at"] is None
    assert "hash" not in entry
    assert "key" not in entry
    assert created["key"] not in stdout
    assert stored_hash not in stdout


def test_keys_revoke_marks_the_key_revoked_in_the_list(cli: Run, tmp_path: Path) -> None:
    """``keys revoke ID`` keeps the key listed with ``revoked_at`` set."""
    keys_file = tmp_path / "keys.json"
    created = create_key(cli, keys_file)
    result = cli("keys", "revoke", "--keys-file", str(keys_file), created["id"])
    assert result.returncode == 0, result.stderr
    _, listed = list_keys(cli, keys_file)
    [entry] = listed
    assert entry["id"] == created["id"]
    assert entry["revoked_at"]


def test_revoking_an_unknown_id_fails_naming_the_id(cli: Run, tmp_path: Path) -> None:
    """``keys revoke`` of an id not in the file exits non-zero and names that id."""
    keys_file = tmp_path / "keys.json"
    create_key(cli, keys_file)
    result = cli("keys", "revoke", "--keys-file", str(keys_file), "0123456789abcdef")
    assert result.returncode != 0
    assert "0123456789abcdef" in result.stderr
    assert "Traceback" not in result.stderr
    _, listed = list_keys(cli, keys_file)
    assert all(entry["revoked_at"] is None for entry in listed)
