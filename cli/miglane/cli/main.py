"""Entry point of the `miglane` console script: one parser, one subcommand per program."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from miglane.daemon import parse_args_with_config

# Each module exposes `register(subparsers)`, adding its subcommands with a `handler` default.
# Modules keep their heavy imports (grpc, textual, libvirt) inside the handlers, so that
# `miglane --help` stays fast.
SUBCOMMAND_MODULES = [
    "miglane.engine.cli",
    "miglane.cli.inventory",
    "miglane.cli.migrations",
    "miglane.cli.demo",
    "miglane.cli.pki",
    "miglane.agent.cli",
    "miglane.lab.cli",
    "miglane.tui.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miglane", description="Miglane: the migration-network control plane."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Commands with `--config FILE` (the engine, the agent) take their defaults from the file.
    args = parse_args_with_config(parser, argv)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_went_away()
    return code


def _reader_went_away() -> int:
    """The command's output was piped into a reader that stopped early (`| head`): a normal
    end, not an error. Python's documented remedy: point stdout at /dev/null so that the
    interpreter's final flush does not raise again, and exit quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
