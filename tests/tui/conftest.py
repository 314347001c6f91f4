from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .real_stack import RealEngine, example_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[RealEngine]:
    """A real engine in-process holding the example cluster (see `real_stack.example_engine`)."""
    async with example_engine(tmp_path / "engine") as running:
        yield running
