"""A command whose output is piped into a reader that stops early (`| head`) ends quietly."""

from __future__ import annotations

import subprocess
import sys

# Registers a command that prints far more than a pipe holds, then runs the real entry point.
_PROGRAM = """
import sys
from miglane.cli import main as entry

real_build = entry.build_parser

def build_parser():
    parser = real_build()
    sub = next(a for a in parser._actions if a.dest == "command")
    flood = sub.add_parser("flood")
    flood.set_defaults(handler=lambda args: print("line\\n" * 2_000_000))
    return parser

entry.build_parser = build_parser
sys.exit(entry.main(["flood"]))
"""


def test_output_into_a_closed_pipe_ends_without_a_traceback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _PROGRAM],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline() == b"line\n"
    process.stdout.close()  # what `head -1` does once it has its line
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert errors == ""
