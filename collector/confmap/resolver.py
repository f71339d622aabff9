"""Raw configuration maps: YAML files deep-merged in order, ``--set`` overrides, and
``${env:VAR}`` / ``${env:VAR:-default}`` expansion, remembering which source set each key
so that every later error can name its file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from collector.confmap.errors import ConfigError

Path_ = tuple[str, ...]
_ENV_RE = re.compile(r"\$\$|\$\{env:([^}:]*)(?::-([^}]*))?\}")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class ConfMap:
    """A merged configuration tree plus the source (file name or ``--set``) of each key."""

    data: dict[str, Any] = field(default_factory=dict)
    sources: dict[Path_, str] = field(default_factory=dict)

    def source_of(self, path: Path_) -> str:
        """The source that set ``path`` or its nearest set parent."""
        for n in range(len(path), -1, -1):
            src = self.sources.get(path[:n])
            if src is not None:
                return src
        return "config"

    def merge(self, other: Mapping[str, Any], source: str) -> None:
        """Deep-merge ``other`` over this map: mappings merge, everything else replaces."""
        _merge_into(self.data, other, (), source, self.sources)

    def set(self, assignment: str) -> None:
        """Apply one ``--set key.path=value`` (``::`` also separates keys, for ids with dots)."""
        key, eq, raw = assignment.partition("=")
        if not eq or not key.strip():
            raise ConfigError([f"--set {assignment}: expected key.path=value"])
        sep = "::" if "::" in key else "."
        parts = [p.strip() for p in key.strip().split(sep)]
        if any(not p for p in parts):
            raise ConfigError([f"--set {assignment}: empty key in {key!r}"])
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError([f"--set {assignment}: value is not valid YAML: {exc}"]) from None
        nested: Any = value
        for part in reversed(parts):
            nested = {part: nested}
        self.merge(nested, "--set")

    def expand_env(self, environ: Mapping[str, str] | None = None) -> None:
        """Replace ``${env:...}`` references in every string value, in place."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        self.data = _expand(self.data, (), env, problems, self)
        if problems:
            raise ConfigError(problems)


def load_files(paths: list[str], overrides: list[str] | None = None) -> ConfMap:
    """Load, merge and expand config files in order, then apply ``--set`` overrides."""
    conf = ConfMap()
    problems: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        try:
            doc = parse_yaml(text, path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        conf.merge(doc, path)
    if problems:
        raise ConfigError(problems)
    for assignment in overrides or []:
        conf.set(assignment)
    conf.expand_env()
    return conf


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"{source}: {where}invalid YAML: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc}"]) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of sections"])
    return doc


def _merge_into(
    target: dict[str, Any],
    other: Mapping[str, Any],
    prefix: Path_,
    source: str,
    sources: dict[Path_, str],
) -> None:
    sources.setdefault(prefix, source)
    for raw_key, value in other.items():
        key = str(raw_key)
        path = (*prefix, key)
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge_into(target[key], value, path, source, sources)
            continue
        # A replaced subtree forgets where its old keys came from.
        for stale in [p for p in sources if p[: len(path)] == path]:
            del sources[stale]
        sources[path] = source
        if isinstance(value, Mapping):
            target[key] = {}
            _merge_into(target[key], value, path, source, sources)
        else:
            target[key] = value


def _expand(
    value: Any, path: Path_, env: Mapping[str, str], problems: list[str], conf: ConfMap
) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, (*path, str(k)), env, problems, conf) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*path, str(i)), env, problems, conf) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if not _ENV_NAME_RE.match(name):
            problems.append(
                f"{conf.source_of(path)}: {'.'.join(path)}: invalid environment variable "
                f"name {name!r} in {match.group(0)!r}"
            )
            return ""
        found = env.get(name)
        if found is None or (found == "" and default is not None):
            return default or ""
        return found

    # What a reference expands to stays the text it is: a setting that takes a number, a
    # boolean or a duration reads it from that text (``${env:PORT}`` can be a port), and one
    # that takes a string keeps it as written, so a password ``0123`` or ``yes`` is not turned
    # into 123 or true (as the OpenTelemetry Collector keeps the string for string settings).
    return _ENV_RE.sub(replace, value)
