"""A real engine process on a free loopback port for the operator-command tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_process import engine_process


@pytest.fixture
def engine_address(tmp_path: Path) -> Iterator[str]:
    with engine_process(tmp_path / "engine") as address:
        yield address
