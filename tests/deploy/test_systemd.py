"""deploy/systemd/session-collector.service, checked with systemd's own tools.

systemd is not PID 1 on this machine (nor in CI), so ``systemd-run`` cannot start the unit.
What is checked instead:
- ``systemd-analyze verify`` on the unit (its ExecStart pointed at the collector this test
  suite runs): it must print nothing, since it exits 0 even on unknown keys and bad values;
- ``systemd-analyze security --offline=yes``: the exposure score stays low;
- the unit's sandbox that decides whether the collector can work, applied to a real
  ``session-collector run`` by libseccomp (Debian's python3-seccomp) as systemd applies it:
  SystemCallFilter= (groups expanded by ``systemd-analyze syscall-filter``),
  SystemCallErrorNumber=, RestrictAddressFamilies=, NoNewPrivileges=, UMask=, the unit's
  Environment= and env file, in a fresh state directory. The collector answers health, takes
  an OTLP upload with a key, stores it and stops on SIGTERM with 0 within TimeoutStopSec=;
- MemoryDenyWriteExecute=yes, applied the same way, stops the collector (chDB needs
  executable memory): the reason the unit leaves it off.
``scripts/systemd-tools`` (run by ``make test``) installs systemd-analyze and python3-seccomp.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import httpx
import pytest

from tests.conftest import CLI, REPO, SAMPLE
from tests.deploy.health import wait_until_healthy

UNIT_DIR = REPO / "deploy" / "systemd"
UNIT = UNIT_DIR / "session-collector.service"
ENV_FILE = UNIT_DIR / "session-collector.env"
SYSUSERS = UNIT_DIR / "session-collector.sysusers"
INSTALLED = "/opt/session-collector/bin/session-collector"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which python3-seccomp is built for


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> every value given, in order (systemd's repeated keys)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


SERVICE = parse_unit(UNIT.read_text())["Service"]


def one(key: str) -> str:
    values = SERVICE.get(key)
    assert values, f"the unit has no {key}="
    return values[-1]


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: scripts/systemd-tools installs it (make test runs it)"
    return found


@pytest.fixture(scope="module")
def seccomp_python() -> str:
    ok = subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True)
    assert ok.returncode == 0, "python3-seccomp is missing: scripts/systemd-tools installs it"
    return SYSTEM_PYTHON


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    """The unit as shipped, its ExecStart pointed at the collector the tests run."""
    text = UNIT.read_text()
    assert INSTALLED in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED, CLI))
    return copy


# ---- systemd-analyze -----------------------------------------------------------------------


def test_systemd_analyze_verify_prints_nothing(unit_copy: Path) -> None:
    out = subprocess.run([tool("systemd-analyze"), "verify", str(unit_copy)],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0 and not (out.stdout + out.stderr).strip(), out.stdout + out.stderr


def test_systemd_analyze_verify_catches_a_typo(tmp_path: Path, unit_copy: Path) -> None:
    """The check above would see a mistake: a misspelled key is reported."""
    bad = tmp_path / "bad" / UNIT.name
    bad.parent.mkdir()
    bad.write_text(unit_copy.read_text().replace("ProtectSystem=", "ProtectSytem="))
    out = subprocess.run([tool("systemd-analyze"), "verify", str(bad)],
                         capture_output=True, text=True)  # fmt: skip
    assert "Unknown key 'ProtectSytem'" in out.stdout + out.stderr


def test_systemd_analyze_security_exposure_is_low(unit_copy: Path) -> None:
    out = subprocess.run(
        [tool("systemd-analyze"), "security", "--offline=yes", "--no-pager", str(unit_copy)],
        capture_output=True, text=True,
    )  # fmt: skip
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", out.stdout)
    assert m, out.stdout + out.stderr
    assert float(m[1]) <= 2.0, out.stdout  # 1.7 "OK" when written; README says so


# ---- what the unit says --------------------------------------------------------------------


def test_unit_is_hardened() -> None:
    expected = {
        "StateDirectory": "session-collector",
        "WorkingDirectory": "/var/lib/session-collector",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "Restart": "on-failure",
        "MemoryDenyWriteExecute": "no",
    }
    for key, value in expected.items():
        assert one(key) == value, key
    assert SERVICE["SystemCallFilter"][0] == "@system-service"
    assert "SESSION_COLLECTOR_DATA_DIR=/var/lib/session-collector" in SERVICE["Environment"]
    assert one("User") == "session-collector" or one("DynamicUser") == "yes"
    assert int(one("LimitNOFILE")) >= 8192
    assert one("ExecStart").startswith(f"{INSTALLED} run")
    # the user exists once systemd-sysusers reads the shipped sysusers.d file
    assert re.search(r"^u session-collector ", SYSUSERS.read_text(), re.M)


def test_stop_timeout_is_above_the_collectors_shutdown() -> None:
    """Each component gets COMPONENT_SHUTDOWN_TIMEOUT; the default pipeline has three stages
    in a row before the exporters (receiver, processors, exporter)."""
    from collector.service.graph import COMPONENT_SHUTDOWN_TIMEOUT

    stop = float(one("TimeoutStopSec").rstrip("s"))
    assert stop >= 3 * COMPONENT_SHUTDOWN_TIMEOUT + 30
    assert one("KillSignal") == "SIGTERM"


def test_no_exec_reload_because_there_is_no_reload_signal() -> None:
    """SIGHUP is not handled (it would end the collector): the unit has no ExecReload=."""
    handled = " ".join(p.read_text() for p in (REPO / "collector").rglob("*.py"))
    assert "SIGHUP" not in handled
    assert "ExecReload" not in SERVICE


def test_env_file_sets_only_what_the_default_config_reads() -> None:
    default = (REPO / "collector" / "cli" / "default_config.yaml").read_text()
    names = set()
    for raw in ENV_FILE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, _ = line.partition("=")
            names.add(key)
            assert key == "SESSION_COLLECTOR_ARGS" or f"${{env:{key}" in default, key
    assert "SESSION_COLLECTOR_ARGS" in names and "$SESSION_COLLECTOR_ARGS" in one("ExecStart")


# ---- the unit's sandbox on a running collector ---------------------------------------------

SANDBOX = r'''
"""Apply a systemd unit's seccomp settings (as JSON in argv[1]) and exec argv[2:]."""
import ctypes, errno, json, mmap, os, sys
import seccomp

cfg = json.loads(sys.argv[1])
if cfg["no_new_privileges"]:
    ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
os.umask(int(cfg["umask"], 8))
# RestrictAddressFamilies=: socket() of another family fails with EAFNOSUPPORT
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
for family in range(64):
    if family not in cfg["families"]:
        f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, family))
f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.GE, 64))
f.load()
# MemoryDenyWriteExecute=yes, as systemd's seccomp_memory_deny_write_execute()
if cfg["mdwe"]:
    W, X = mmap.PROT_WRITE, mmap.PROT_EXEC
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    f.add_rule(seccomp.ERRNO(errno.EPERM), "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, W | X, W | X))
    for call in ("mprotect", "pkey_mprotect"):
        f.add_rule(seccomp.ERRNO(errno.EPERM), call, seccomp.Arg(2, seccomp.MASKED_EQ, X, X))
    f.add_rule(seccomp.ERRNO(errno.EPERM), "shmat",
               seccomp.Arg(2, seccomp.MASKED_EQ, 0o100000, 0o100000))
    f.load()
# SystemCallFilter=: an allow list; anything else fails with SystemCallErrorNumber=
# (or kills the process without it). Loaded last: it may deny seccomp() itself.
default = seccomp.ERRNO(cfg["errno"]) if cfg["errno"] else seccomp.KILL_PROCESS
f = seccomp.SyscallFilter(defaction=default)
for name in cfg["allowed"]:
    try:
        f.add_rule(seccomp.ALLOW, name)
    except Exception:
        pass  # not a system call on this architecture
f.load()
os.execv(sys.argv[2], sys.argv[2:])
'''

FAMILIES = {"AF_UNIX": socket.AF_UNIX, "AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6}


@cache
def syscall_group(group: str) -> frozenset[str]:
    """The system calls of a ``@group``, nested groups expanded, as systemd-analyze lists."""
    out = subprocess.run([tool("systemd-analyze"), "syscall-filter", group],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    names: set[str] = set()
    for raw in out.splitlines()[1:]:
        item = raw.strip()
        if not item or item.startswith("#"):
            continue
        names |= syscall_group(item) if item.startswith("@") else {item}
    return frozenset(names)


def allowed_syscalls() -> list[str]:
    """SystemCallFilter= lines in order: the first (no ~) sets the allow list, ~ removes."""
    allowed: set[str] = set()
    for value in SERVICE["SystemCallFilter"]:
        deny = value.startswith("~")
        names: set[str] = set()
        for item in value.lstrip("~").split():
            names |= syscall_group(item) if item.startswith("@") else {item}
        allowed = allowed - names if deny else allowed | names
    return sorted(allowed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unit_environment(state: Path) -> tuple[dict[str, str], dict[str, int]]:
    """The environment systemd gives the service: Environment= then the env file, ports moved
    to free loopback ports and the state directory to ``state``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_COLLECTOR_")}
    for line in SERVICE["Environment"]:
        for pair in line.split():
            key, _, value = pair.partition("=")
            env[key] = value.replace("/var/lib/session-collector", str(state))
    ports: dict[str, int] = {}
    for raw in ENV_FILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if re.fullmatch(r"[\d.]+:\d+", value):
            ports[key] = free_port()
            value = f"127.0.0.1:{ports[key]}"
        env[key] = value
    return env, ports


def exec_start(env: dict[str, str]) -> list[str]:
    """ExecStart= with the collector of this test run, $VAR split into words as systemd does."""
    words: list[str] = []
    for word in one("ExecStart").split():
        if word.startswith("$"):
            words += env.get(word[1:], "").split()
        else:
            words.append(CLI if word == INSTALLED else word)
    return words


def start_sandboxed(tmp_path: Path, python: str, mdwe: bool, strict: bool = True) -> tuple[
    subprocess.Popen[bytes], dict[str, str], dict[str, int], Path
]:  # fmt: skip
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    env, ports = unit_environment(state)
    sandbox = tmp_path / "sandbox.py"
    sandbox.write_text(SANDBOX)
    cfg = {
        "allowed": allowed_syscalls(),
        # strict: a call outside SystemCallFilter= kills the process (systemd's action
        # without SystemCallErrorNumber=), so none is made, not even one that failed quietly
        "errno": 0 if strict or not SERVICE.get("SystemCallErrorNumber")
        else getattr(__import__("errno"), one("SystemCallErrorNumber")),
        "families": [FAMILIES[f] for f in one("RestrictAddressFamilies").split()],
        "no_new_privileges": one("NoNewPrivileges") == "yes",
        "umask": one("UMask"),
        "mdwe": mdwe,
    }  # fmt: skip
    log = tmp_path / "collector.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([python, str(sandbox), json.dumps(cfg), *exec_start(env)],
                                env=env, cwd=state, stdout=out, stderr=out)  # fmt: skip
    return proc, env, ports, log


@pytest.fixture
def stop() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_collector_works_in_the_units_sandbox(
    tmp_path: Path, seccomp_python: str, stop: list[subprocess.Popen[bytes]]
) -> None:
    state = tmp_path / "state"
    env0 = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_COLLECTOR_")}
    created = subprocess.run(
        [CLI, "keys", "create", "--keys-file", str(tmp_path / "keys.json"), "--org", "acme",
         "--name", "systemd", "--role", "mcp_watch_scan", "--role", "sessions_read", "--json"],
        env=env0, check=True, capture_output=True, text=True,
    )  # fmt: skip
    key = json.loads(created.stdout)["key"]
    proc, env, ports, log = start_sandboxed(tmp_path, seccomp_python, mdwe=False)
    stop.append(proc)
    shutil.move(tmp_path / "keys.json", state / "keys.json")  # read within reload_interval

    health = f"http://{env['SESSION_COLLECTOR_HEALTH_ENDPOINT']}/"
    wait_until_healthy(proc, health, log)
    assert (Path("/proc") / str(proc.pid) / "status").read_text().count("Seccomp:\t2") == 1

    otlp = f"http://{env['SESSION_COLLECTOR_OTLP_ENDPOINT']}/v1/logs"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 15
    while True:  # the keys file appeared after the start: wait for its reload
        answer = httpx.post(otlp, content=SAMPLE.read_bytes(), headers=headers, timeout=30)
        if answer.status_code != 401 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert answer.status_code == 200, answer.text
    api = f"http://{env['SESSION_COLLECTOR_API_ENDPOINT']}/api/v1/sessions"
    deadline = time.monotonic() + 30
    while not httpx.get(api, headers=headers, timeout=10).json()["sessions"]:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)
    # UMask=0077: what the collector made is its own
    store = state / "clickhouse"
    assert store.is_dir() and store.stat().st_mode & 0o077 == 0

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=float(one("TimeoutStopSec").rstrip("s"))) == 0, log.read_text()
    assert "Operation not permitted" not in log.read_text()
    assert set(ports) == {k for k in env if k.endswith(("_ENDPOINT", "_ADDRESS"))}


def test_memory_deny_write_execute_would_stop_chdb(
    tmp_path: Path, seccomp_python: str, stop: list[subprocess.Popen[bytes]]
) -> None:
    """Why the unit says MemoryDenyWriteExecute=no: with it, the embedded store cannot start.
    If this ever fails, chDB no longer needs executable memory: turn it on in the unit."""
    proc, _env, _ports, log = start_sandboxed(tmp_path, seccomp_python, mdwe=True)
    stop.append(proc)
    assert proc.wait(timeout=120) != 0
    assert "CANNOT_MPROTECT" in log.read_text(), log.read_text()
