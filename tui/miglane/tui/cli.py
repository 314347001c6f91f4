"""The `miglane tui` subcommand: the operator's terminal UI on an engine."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# The same as the operator commands' (`miglane.cli.engine_client`), repeated here so that
# registering this subcommand imports neither grpc nor textual.
ENGINE_ADDRESS_ENV = "MIGLANE_ENGINE"
DEFAULT_ENGINE_ADDRESS = "127.0.0.1:50051"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "tui",
        help="the operator's terminal UI",
        description="Networks, hosts, VMs, live migrations and events of one engine, with "
        "the operator's actions (migration role, migrate, cancel, bandwidth, maintenance). "
        "No engine at hand? `miglane demo up --fake` starts one with simulated hosts and "
        "opens this TUI on it.",
    )
    parser.add_argument(
        "--engine",
        default=os.environ.get(ENGINE_ADDRESS_ENV, DEFAULT_ENGINE_ADDRESS),
        metavar="HOST:PORT[,HOST:PORT...]",
        help=f"engine address, or several (comma-separated: the TUI follows the leader among "
        f"them) (env {ENGINE_ADDRESS_ENV}, default {DEFAULT_ENGINE_ADDRESS})",
    )
    parser.add_argument(
        "--credentials",
        type=Path,
        default=None,
        metavar="DIR",
        help="your identity (`miglane pki issue`; env MIGLANE_CREDENTIALS, default "
        "$XDG_CONFIG_HOME/miglane/credentials)",
    )
    parser.add_argument(
        "--refresh",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often to re-read the inventory (migrations and events are streamed)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from miglane.pki import PkiError, load_client_credentials

    try:
        credentials = load_client_credentials(args.credentials)
    except PkiError as error:
        print(f"miglane tui: {error}", file=sys.stderr)
        return 1
    from miglane.tui.app import MiglaneApp
    from miglane.tui.grpc_client import GrpcEngineClient

    try:
        client = GrpcEngineClient(args.engine, credentials)
    except ValueError as error:
        print(f"miglane tui: {error}", file=sys.stderr)
        return 1
    MiglaneApp(client, refresh_interval_s=max(0.2, args.refresh)).run()
    return 0
