"""The `miglane tui` subcommand: the operator's terminal UI on an engine."""

from __future__ import annotations

import argparse
import os

# The same as the operator commands' (`miglane.cli.engine_client`), repeated here so that
# registering this subcommand imports neither grpc nor textual.
ENGINE_ADDRESS_ENV = "MIGLANE_ENGINE"
DEFAULT_ENGINE_ADDRESS = "127.0.0.1:50051"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "tui",
        help="the operator's terminal UI",
        description="Networks, hosts, VMs, live migrations and events of one engine, with "
        "the operator's actions (migration role, migrate, cancel, bandwidth, maintenance).",
    )
    parser.add_argument(
        "--engine",
        default=os.environ.get(ENGINE_ADDRESS_ENV, DEFAULT_ENGINE_ADDRESS),
        metavar="HOST:PORT",
        help=f"engine address (env {ENGINE_ADDRESS_ENV}, default {DEFAULT_ENGINE_ADDRESS})",
    )
    parser.add_argument(
        "--refresh",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often to re-read the inventory (migrations and events are streamed)",
    )
    parser.add_argument(
        "--fake",
        action="store_true",
        help="no engine: an in-memory demo cluster whose migrations progress by themselves",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from miglane.tui.app import MiglaneApp
    from miglane.tui.client import EngineClient

    client: EngineClient
    if args.fake:
        from miglane.tui.testing import demo_engine

        client = demo_engine(autoplay_interval_s=0.5)
    else:
        from miglane.tui.grpc_client import GrpcEngineClient

        client = GrpcEngineClient(args.engine)
    MiglaneApp(client, refresh_interval_s=max(0.2, args.refresh)).run()
    return 0
