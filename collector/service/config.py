"""Typed configuration: each component's own keys validated by its model, then the checks
across components (pipelines and extension references), every problem prefixed with the
file and key path it concerns. Nothing starts until all of it is valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from collector.component import ComponentConfig, ComponentID, ComponentIDField, Kind
from collector.component.registry import Registry
from collector.confmap import ConfigError, ConfMap
from collector.confmap.netaddr import Endpoint
from collector.pdata.signals import Signal

_SECTIONS = {kind.value for kind in Kind} | {"service"}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LogsTelemetry(_Model):
    level: Literal["debug", "info", "warn", "warning", "error"] = "info"
    encoding: Literal["console", "json"] = "console"


class MetricsTelemetry(_Model):
    #: ``none`` serves no metrics
    level: Literal["none", "basic", "normal", "detailed"] = "normal"
    address: Endpoint = "127.0.0.1:8888"


class Telemetry(_Model):
    logs: LogsTelemetry = LogsTelemetry()
    metrics: MetricsTelemetry = MetricsTelemetry()


_SIGNALS = frozenset(s.value for s in Signal)


class PipelineConfig(_Model):
    receivers: list[ComponentIDField] = Field(min_length=1)
    processors: list[ComponentIDField] = []
    exporters: list[ComponentIDField] = Field(min_length=1)


class ServiceConfig(_Model):
    extensions: list[ComponentIDField] = []
    telemetry: Telemetry = Telemetry()
    pipelines: dict[str, PipelineConfig] = Field(min_length=1)

    @field_validator("pipelines")
    @classmethod
    def _pipeline_ids(cls, value: dict[str, PipelineConfig]) -> dict[str, PipelineConfig]:
        for key in value:
            pid = ComponentID.parse(key)
            if pid.type not in _SIGNALS:
                raise ValueError(
                    f"pipeline {key!r}: type {pid.type!r} is not supported (one of "
                    "'logs', 'metrics', 'traces')"
                )
        return value


@dataclass(frozen=True)
class Config:
    """A validated configuration: component configs by kind and id, and the service."""

    components: dict[Kind, dict[ComponentID, ComponentConfig]]
    service: ServiceConfig
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def component(self, kind: Kind, cid: ComponentID) -> ComponentConfig:
        return self.components[kind][cid]


def validate(conf: ConfMap, registry: Registry) -> Config:
    """Validate a merged config map; :class:`ConfigError` lists every problem found."""
    problems: list[str] = []

    def problem(path: tuple[str, ...], message: str) -> None:
        where = ".".join(path)
        problems.append(f"{conf.source_of(path)}: {where + ': ' if where else ''}{message}")

    for key in conf.data:
        if key not in _SECTIONS:
            problem((key,), f"unknown section; expected one of {', '.join(sorted(_SECTIONS))}")

    components: dict[Kind, dict[ComponentID, ComponentConfig]] = {kind: {} for kind in Kind}
    declared: dict[Kind, set[ComponentID]] = {kind: set() for kind in Kind}
    for kind in Kind:
        section = conf.data.get(kind.value)
        if section is None:
            continue
        if not isinstance(section, dict):
            problem((kind.value,), "must be a mapping of component ids to their settings")
            continue
        for key, raw in section.items():
            path = (kind.value, str(key))
            try:
                cid = ComponentID.parse(str(key))
            except ValueError as exc:
                problem(path, str(exc))
                continue
            declared[kind].add(cid)
            factory = registry.get(kind, cid.type)
            if factory is None:
                known = ", ".join(registry.types(kind)) or "none"
                problem(path, f"unknown {kind.singular} type {cid.type!r} (known: {known})")
                continue
            if raw is not None and not isinstance(raw, dict):
                problem(path, "settings must be a mapping (or empty)")
                continue
            try:
                components[kind][cid] = factory.config_model.model_validate(raw or {})
            except ValidationError as exc:
                for err in exc.errors():
                    problem((*path, *map(str, err["loc"])), _describe(err))

    service: ServiceConfig | None = None
    raw_service = conf.data.get("service")
    if raw_service is None:
        problem(("service",), "required section is missing")
    elif not isinstance(raw_service, dict):
        problem(("service",), "must be a mapping")
    else:
        try:
            service = ServiceConfig.model_validate(raw_service)
        except ValidationError as exc:
            for err in exc.errors():
                problem(("service", *map(str, err["loc"])), _describe(err))

    # References are checked in the same pass, on the parts of the service section that are
    # valid, so fixing one problem never reveals another that was there all along.
    checked = service if service is not None else _valid_parts(raw_service)
    if checked is not None:
        _check_references(checked, components, declared, problem)
        _check_signals(checked, components, registry, problem)
    if problems or service is None:
        raise ConfigError(problems)
    return Config(components, service, conf.data)


def _check_references(
    service: ServiceConfig,
    components: dict[Kind, dict[ComponentID, ComponentConfig]],
    declared: dict[Kind, set[ComponentID]],
    problem: Any,
) -> None:
    """Pipelines and extension references; ids that are declared but invalid were already
    reported, so only ids declared nowhere are reported here."""
    enabled = set(service.extensions)
    for i, ext in enumerate(service.extensions):
        if ext not in declared[Kind.EXTENSION]:
            problem(("service", "extensions", str(i)), f'extension "{ext}" is not configured')
    for name, pipeline in service.pipelines.items():
        base = ("service", "pipelines", name)
        for kind, ids in (
            (Kind.RECEIVER, pipeline.receivers),
            (Kind.PROCESSOR, pipeline.processors),
            (Kind.EXPORTER, pipeline.exporters),
        ):
            seen: set[ComponentID] = set()
            for i, cid in enumerate(ids):
                where = (*base, kind.value, str(i))
                if cid not in declared[kind]:
                    problem(where, f'references {kind.singular} "{cid}" which is not configured')
                if cid in seen:
                    problem(where, f'{kind.singular} "{cid}" is listed twice')
                seen.add(cid)
    used = {cid for p in service.pipelines.values() for cid in (*p.receivers, *p.exporters)}
    used |= {cid for p in service.pipelines.values() for cid in p.processors}
    for kind in (Kind.RECEIVER, Kind.PROCESSOR, Kind.EXPORTER, Kind.EXTENSION):
        for cid, cfg in components[kind].items():
            if kind is not Kind.EXTENSION and cid not in used:
                continue
            for key, exp in cfg.exporter_refs().items():
                if exp not in declared[Kind.EXPORTER]:
                    problem((kind.value, str(cid), key), f'exporter "{exp}" is not configured')
            for key, ext in cfg.extension_refs().items():
                path = (kind.value, str(cid), key)
                if ext not in declared[Kind.EXTENSION]:
                    problem(path, f'extension "{ext}" is not configured')
                elif ext not in enabled:
                    problem(path, f'extension "{ext}" is not enabled in service.extensions')


def _valid_parts(raw: object) -> ServiceConfig | None:
    """The pipelines and extensions of an invalid ``service`` section that are valid on their
    own (their problems are reported already), for the reference checks."""
    if not isinstance(raw, dict):
        return None
    pipelines: dict[str, PipelineConfig] = {}
    raw_pipelines = raw.get("pipelines")
    for key, value in raw_pipelines.items() if isinstance(raw_pipelines, dict) else ():
        try:
            if ComponentID.parse(str(key)).type in _SIGNALS:
                pipelines[str(key)] = PipelineConfig.model_validate(value)
        except (ValidationError, ValueError):
            continue
    extensions: list[ComponentID] = []
    raw_extensions = raw.get("extensions")
    for value in raw_extensions if isinstance(raw_extensions, list) else ():
        try:
            extensions.append(ComponentID.parse(value))
        except ValueError:
            continue
    return ServiceConfig.model_construct(extensions=extensions, pipelines=pipelines)


def _check_signals(
    service: ServiceConfig,
    components: dict[Kind, dict[ComponentID, ComponentConfig]],
    registry: Registry,
    problem: Any,
) -> None:
    """Every component of a pipeline handles the pipeline's signal."""
    for name, pipeline in service.pipelines.items():
        signal = Signal(ComponentID.parse(name).type)
        for kind, ids in (
            (Kind.RECEIVER, pipeline.receivers),
            (Kind.PROCESSOR, pipeline.processors),
            (Kind.EXPORTER, pipeline.exporters),
        ):
            for i, cid in enumerate(ids):
                factory = registry.get(kind, cid.type)
                if (
                    cid in components[kind]
                    and factory is not None
                    and signal not in factory.signals
                ):
                    supported = ", ".join(sorted(factory.signals))
                    problem(
                        ("service", "pipelines", name, kind.value, str(i)),
                        f'{kind.singular} "{cid}" does not support {signal} (only {supported})',
                    )


def _describe(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    value = err.get("input")
    secret = any(w in str(p).lower() for p in err["loc"] for w in ("password", "secret", "token"))
    if isinstance(value, str | int | float | bool) and not secret:
        return f"{msg} (got {value!r})"[:300]
    return msg
