"""Helpers of the operator-command tests (imported by name: tests/cli is on sys.path)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from miglane.cli.main import main

WAIT_S = 30.0


def run_json(capsys: pytest.CaptureFixture[str], engine: str, *argv: str) -> Any:
    code = main([*argv, "--engine", engine, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)
