"""The lab fixtures' rules, importable by name (every suite has a `conftest` module of its own)."""

from __future__ import annotations

import os

import pytest

LAB_FIXTURES = {"lab", "lab_with_agents", "spare_lab"}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def lab_unavailable(reason: str) -> None:
    """Skips the test, or fails it in CI, where the lab must always run."""
    if in_ci():
        pytest.fail(f"CI=true and the lab is unavailable: {reason}", pytrace=False)
    pytest.skip(reason)
