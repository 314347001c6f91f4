"""The `miglane engine` subcommand. Heavy imports (grpc, sqlite) wait for the handler."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from miglane.daemon import add_config_option, add_logging_arguments, parse_args_with_config
from miglane.engine.config import (
    DATABASE_FILE,
    DEFAULT_AGENT_TIMEOUT_S,
    DEFAULT_BUSY_RETRY_S,
    DEFAULT_GRACE_S,
    DEFAULT_LISTEN,
    DEFAULT_METRICS_LISTEN,
    DEFAULT_POLL_INTERVAL_S,
    EngineConfig,
)
from miglane.engine.store_dialect import check_url
from miglane.metrics.listen import METRICS_OFF, metrics_listen_argument

if TYPE_CHECKING:
    from miglane.engine.store_transfer import TableTally


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "miglane" / "engine"


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def _database_url(text: str) -> str:
    try:
        return check_url(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_leadership_arguments(parser: argparse.ArgumentParser) -> None:
    """The knobs of engines sharing a PostgreSQL database (one leads, the others follow)."""
    parser.add_argument(
        "--advertise-address",
        default="",
        metavar="HOST:PORT",
        help="the address clients reach this engine at, published in the leader lease when "
        "engines share a PostgreSQL database (default: the address it listens on)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to serve gRPC on; port 0 picks a free one (default {DEFAULT_LISTEN})",
    )
    _add_state_arguments(parser)
    _add_leadership_arguments(parser)
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="DEVELOPMENT ONLY: plaintext gRPC without identities, to clients and to agents "
        "(which must run --insecure too); logged as a warning and shown by the health service "
        "name miglane.insecure",
    )
    parser.add_argument(
        "--example-cluster",
        action="store_true",
        help='when the engine holds no cluster, create "Default" with a management and a '
        "migration network",
    )
    _add_timing_arguments(parser)
    parser.add_argument(
        "--metrics-listen",
        type=metrics_listen_argument,
        default=DEFAULT_METRICS_LISTEN,
        metavar="ADDR:PORT",
        help="serve Prometheus metrics on http://ADDR:PORT/metrics (default %(default)s; "
        f"'{METRICS_OFF}': none)",
    )
    add_logging_arguments(parser)
    add_config_option(parser)  # last: its keys are the options above


def _add_state_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the engine keeps its state and its certificate authority."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the engine keeps its lock, its CA (unless --pki-dir) and, unless "
        f"--database, its SQLite database (default {default_state_dir()})",
    )
    parser.add_argument(
        "--database",
        type=_database_url,
        default=None,
        metavar="URL",
        help="where the engine keeps its state: sqlite:///PATH or postgresql://... (a libpq "
        f"URI; default sqlite:///<state dir>/{DATABASE_FILE})",
    )
    parser.add_argument(
        "--pki-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the engine's certificate authority, created on first start when missing "
        "(default <state dir>/pki; `miglane pki init` makes it too)",
    )


def _add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """How often and how long the engine waits: on shutdown, on agents."""
    parser.add_argument(
        "--grace-s",
        type=float,
        default=DEFAULT_GRACE_S,
        metavar="S",
        help="on SIGTERM/SIGINT, how long in-flight calls may finish (default %(default)g)",
    )
    parser.add_argument(
        "--poll-interval",
        type=_positive,
        default=DEFAULT_POLL_INTERVAL_S,
        metavar="S",
        help="how often each host's agent is polled for capabilities and VMs (default %(default)g)",
    )
    parser.add_argument(
        "--busy-retry-s",
        type=_positive,
        default=DEFAULT_BUSY_RETRY_S,
        metavar="S",
        help="how long an agent that answered busy (or a destination its source could not "
        "reach) is left alone before its migrations are tried again (default %(default)g)",
    )
    parser.add_argument(
        "--agent-timeout-s",
        type=_positive,
        default=DEFAULT_AGENT_TIMEOUT_S,
        metavar="S",
        help="deadline of each call to an agent (default %(default)g; Migrate waits longer)",
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "engine",
        help="run the Miglane engine (gRPC)",
        description="Runs the engine: inventory, network roles, migrations and events over gRPC, "
        "with the "
        "standard health service and server reflection. Logs the address it bound, serves "
        "until SIGTERM or SIGINT, then stops gracefully.",
    )
    add_arguments(parser)
    add_commands(parser)
    parser.set_defaults(handler=run)


def add_commands(parser: argparse.ArgumentParser) -> None:
    """The engine's own subcommands (without one, the engine runs)."""
    commands = parser.add_subparsers(
        dest="engine_command",
        metavar="[COMMAND]",
        title="commands",
        description="without one, the engine runs",
    )
    migrate = commands.add_parser(
        "migrate-store",
        help="move an engine's state to another database (SQLite <-> PostgreSQL)",
        description="Copies every table from one database to another in one transaction, "
        "printing each table's row count and checksum, and commits only when the target's "
        "match the source's. Stop the engine first. Both databases are brought to this "
        "engine's schema version.",
    )
    migrate.add_argument(
        "--from", dest="source", type=_database_url, required=True, metavar="URL",
        help="the database holding the state (sqlite:///PATH or postgresql://...)",
    )  # fmt: skip
    migrate.add_argument(
        "--to", dest="target", type=_database_url, required=True, metavar="URL",
        help="the database to move it to",
    )  # fmt: skip
    migrate.add_argument(
        "--replace-target",
        action="store_true",
        help="empty a target that already holds engine state (refused otherwise)",
    )
    migrate.set_defaults(handler=run_migrate_store)


def run(args: argparse.Namespace) -> int:
    from miglane.engine.runner import run_engine

    config = EngineConfig(
        state_dir=args.state_dir or default_state_dir(),
        database=args.database or "",
        listen=args.listen,
        grace_s=args.grace_s,
        poll_interval_s=args.poll_interval,
        busy_retry_s=args.busy_retry_s,
        agent_timeout_s=args.agent_timeout_s,
        pki_dir=args.pki_dir,
        insecure=args.insecure,
        metrics_listen=args.metrics_listen,
        advertise_address=args.advertise_address,
    )
    return run_engine(
        config,
        example_cluster=args.example_cluster,
        log_level=args.log_level,
        log_format=args.log_format,
    )


def run_migrate_store(args: argparse.Namespace) -> int:
    import sys

    from miglane.engine.store_dialect import StoreError, redacted

    try:
        tallies = _migrate_store(args.source, args.target, replace=args.replace_target)
    except StoreError as error:
        print(f"migrate-store: {error}", file=sys.stderr)
        return 1
    rows = sum(t.rows for t in tallies)
    print(
        f"moved {len(tallies)} tables, {rows} rows from {redacted(args.source)} "
        f"to {redacted(args.target)}"
    )
    return 0


def _migrate_store(source_url: str, target_url: str, *, replace: bool) -> list[TableTally]:
    from miglane.engine.store import Store
    from miglane.engine.store_dialect import SQLITE_SCHEME, StoreError, scheme_of, sqlite_path
    from miglane.engine.store_transfer import transfer

    if source_url == target_url:
        raise StoreError("--from and --to name the same database")
    if scheme_of(source_url) == SQLITE_SCHEME and not sqlite_path(source_url).is_file():
        raise StoreError(f"no database at {sqlite_path(source_url)} (--from)")
    source = Store.connect(source_url)
    try:
        target = Store.connect(target_url)
        try:
            return transfer(source, target, replace=replace)
        finally:
            target.close()
    finally:
        source.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m miglane.engine`: the same as `miglane engine`."""
    parser = argparse.ArgumentParser(prog="miglane engine")
    add_arguments(parser)
    add_commands(parser)
    parser.set_defaults(handler=run)
    args = parse_args_with_config(parser, argv)
    return int(args.handler(args) or 0)
