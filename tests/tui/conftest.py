from __future__ import annotations

import pytest

from miglane.tui.testing import FakeEngineClient, demo_engine


@pytest.fixture
def fake() -> FakeEngineClient:
    return demo_engine()
