"""A real engine process on a free loopback port for the operator-command tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_process import admin_credentials_of, engine_process

from miglane.pki import CREDENTIALS_ENV


@pytest.fixture(autouse=True)
def own_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands look for credentials in the test's config home, never the user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)


@pytest.fixture
def engine_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The engine's address; the commands (and their child processes) find a test admin's
    credentials through MIGLANE_CREDENTIALS."""
    with engine_process(tmp_path / "engine") as address:
        monkeypatch.setenv(CREDENTIALS_ENV, str(admin_credentials_of(tmp_path / "engine")))
        yield address
