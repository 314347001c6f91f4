"""The lab fixtures' rules, importable by name (every suite has a `conftest` module of its own)."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pytest

LAB_FIXTURES = {"lab", "lab_with_agents", "spare_lab"}


def mark_lab_tests(items: Iterable[pytest.Item]) -> None:
    """Gives the `lab` marker to every test that uses a lab fixture."""
    for item in items:
        if LAB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def lab_unavailable(reason: str) -> None:
    """Skips the test, or fails it in CI, where the lab must always run."""
    if in_ci():
        pytest.fail(f"CI=true and the lab is unavailable: {reason}", pytrace=False)
    pytest.skip(reason)
