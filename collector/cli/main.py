"""The ``session-collector`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine, Sequence
from importlib import metadata, resources
from typing import Any

import orjson

from collector.auth import keystore
from collector.cli.components import builtin_registry
from collector.component import Kind
from collector.component.registry import Registry
from collector.confmap import ConfigError, ConfMap, load_files, parse_yaml
from collector.service.config import Config, validate

DEFAULT_CONFIG_NAME = "(built-in default config)"


def default_config_text() -> str:
    return resources.files("collector.cli").joinpath("default_config.yaml").read_text("utf-8")


def load_config(
    paths: Sequence[str], overrides: Sequence[str] = (), registry: Registry | None = None
) -> Config:
    """Load and validate config files (the built-in default when there are none)."""
    if paths:
        conf = load_files(list(paths), list(overrides))
    else:
        conf = ConfMap()
        conf.merge(parse_yaml(default_config_text(), DEFAULT_CONFIG_NAME), DEFAULT_CONFIG_NAME)
        for assignment in overrides:
            conf.set(assignment)
        conf.expand_env()
    return validate(conf, registry or builtin_registry())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="session-collector",
        description="Collects Claude Code and Claude Cowork telemetry into sessions and prompts.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {metadata.version('session-collector')}"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def config_args(p: argparse.ArgumentParser, with_set: bool = True) -> None:
        p.add_argument(
            "--config",
            action="append",
            default=[],
            metavar="FILE",
            help="a YAML config file; several are deep-merged in order",
        )
        if with_set:
            p.add_argument(
                "--set",
                action="append",
                default=[],
                dest="overrides",
                metavar="KEY=VALUE",
                help="override one key, e.g. receivers.otlp.endpoint=0.0.0.0:4318",
            )

    run = sub.add_parser("run", help="run the collector")
    config_args(run)
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve the same ports from N processes (not with embedded chDB)",
    )
    validate_p = sub.add_parser("validate", help="check a configuration and exit")
    config_args(validate_p)
    sub.add_parser("components", help="list the available components")

    sessions = sub.add_parser("sessions", help="list sessions, newest first")
    config_args(sessions, with_set=False)
    sessions.add_argument("--client", help="only this client, e.g. 'Claude Code'")
    sessions.add_argument("--tenant", help="only this org (default: every org)")
    sessions.add_argument("--since", help="ISO 8601 time, or a duration ago such as 24h")
    sessions.add_argument("--limit", type=int, default=50)
    sessions.add_argument("--json", action="store_true", help="print a JSON array")
    prompts = sub.add_parser("prompts", help="list the prompts of a session")
    prompts.add_argument("session_id")
    config_args(prompts, with_set=False)
    prompts.add_argument("--tenant", help="only if the session belongs to this org")
    prompts.add_argument("--json", action="store_true", help="print a JSON array")

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key and print its secret once")
    create.add_argument("--keys-file", required=True, metavar="FILE")
    create.add_argument("--org", required=True, help="the organization (tenant) of the key")
    create.add_argument("--name", required=True, help="what the key is for")
    create.add_argument(
        "--role",
        action="append",
        default=[],
        dest="roles",
        metavar="ROLE",
        help="a role of the key (repeatable; default: mcp_watch_scan): "
        + "; ".join(f"{role}: {what}" for role, what in keystore.KNOWN_ROLES.items()),
    )
    create.add_argument(
        "--allow-custom-role",
        action="store_true",
        help="accept a role other than those above (for a component whose required_role names it)",
    )
    create.add_argument("--personal", action="store_true", help="a personal key of --user")
    create.add_argument("--user", metavar="EMAIL", help="the owner of a personal key")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    list_p = keys_sub.add_parser("list", help="list keys (never their secrets)")
    list_p.add_argument("--keys-file", required=True, metavar="FILE")
    list_p.add_argument("--json", action="store_true", help="print a JSON array")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("--keys-file", required=True, metavar="FILE")
    revoke.add_argument("id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "validate":
            load_config(args.config, args.overrides)
            print("config is valid")
            return 0
        if args.command == "components":
            return _components()
        if args.command in ("sessions", "prompts"):
            return _sessions(args)
        return _keys(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    except keystore.KeyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from collector.service import Service
    from collector.telemetry.logs import configure_logging

    config = load_config(args.config, args.overrides)
    if args.workers != 1:
        return _run_workers(args, config)
    logs = config.service.telemetry.logs
    configure_logging(logs.level, logs.encoding)
    service = Service(config, builtin_registry())
    try:
        return run_loop(service.run())
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _sessions(args: argparse.Namespace) -> int:
    from collector.cli import sessions as sessions_cli

    config = load_config(args.config)
    try:
        if args.command == "sessions":
            if not 1 <= args.limit <= 1000:
                raise sessions_cli.CLIError("--limit must be from 1 to 1000")
            rows = sessions_cli.sessions(
                config, client=args.client, tenant=args.tenant, since=args.since,
                limit=args.limit,
            )  # fmt: skip
            table = sessions_cli.sessions_table
        else:
            found = sessions_cli.prompts(config, args.session_id, args.tenant)
            if found is None:
                print(f"error: no session {args.session_id!r}", file=sys.stderr)
                return 1
            rows, table = found, sessions_cli.prompts_table
    except (sessions_cli.CLIError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(rows) + b"\n")
    else:
        print(table(rows))
    return 0


def _run_workers(args: argparse.Namespace, config: Config) -> int:
    from collector.service.workers import supervise
    from collector.sessions.clickhouse import ClickHouseSettings

    if not 1 <= args.workers <= 64:
        print("error: --workers must be from 1 to 64", file=sys.stderr)
        return 2
    for cid, cfg in config.components[Kind.EXPORTER].items():
        if isinstance(cfg, ClickHouseSettings) and cfg.embedded:
            print(f"error: --workers needs a downstream several processes can share: exporter "
                  f"{cid} uses the embedded store {cfg.endpoint}, which admits one process. "
                  "Use Kafka or a ClickHouse server (http://...), or run one process.",
                  file=sys.stderr)  # fmt: skip
            return 2
    argv = ["run"]
    for path in args.config:
        argv += ["--config", path]
    for assignment in args.overrides:
        argv += ["--set", assignment]
    return supervise(argv, args.workers)


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run the service on uvloop when it is installed (faster I/O), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _components() -> int:
    registry = builtin_registry()
    width = max(len(f.type) for kind in Kind for f in registry.factories(kind))
    for kind in Kind:
        print(f"{kind.value}:")
        for factory in registry.factories(kind):
            signals = ""
            if kind is not Kind.EXTENSION:
                signals = f" [{', '.join(sorted(factory.signals))}]"
            print(f"  {factory.type:<{width}}  {factory.description}{signals}")
    return 0


def _keys(args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        unknown = [r for r in args.roles if r not in keystore.KNOWN_ROLES]
        if unknown and not args.allow_custom_role:
            known = ", ".join(keystore.KNOWN_ROLES)
            raise keystore.KeyStoreError(
                f"unknown role {unknown[0]!r}: the roles are {known} (a role that a "
                "component's required_role names: add --allow-custom-role)"
            )
        key, secret = keystore.create(
            args.keys_file,
            org=args.org,
            name=args.name,
            roles=args.roles or ["mcp_watch_scan"],
            personal=args.personal,
            user=args.user,
        )
        if args.json:
            sys.stdout.buffer.write(orjson.dumps({**key.public(), "key": secret}) + b"\n")
        else:
            print(f"created key {key.id} for org {key.org} with roles {', '.join(key.roles)}")
            print(f"secret (shown only now): {secret}")
        return 0
    if args.keys_command == "list":
        keys = keystore.load(args.keys_file)
        if args.json:
            sys.stdout.buffer.write(orjson.dumps([k.public() for k in keys.values()]) + b"\n")
            return 0
        print(f"{'ID':<17} {'ORG':<16} {'NAME':<20} {'ROLES':<28} {'KIND':<9} STATUS")
        for k in keys.values():
            kind = "personal" if k.personal else "org"
            status = f"revoked {k.revoked_at}" if k.revoked_at else "active"
            print(f"{k.id:<17} {k.org:<16} {k.name:<20} {','.join(k.roles):<28} {kind:<9} {status}")
        return 0
    key = keystore.revoke(args.keys_file, args.id)
    print(f"revoked key {key.id} ({key.name}, org {key.org})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
