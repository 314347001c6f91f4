"""The `lab` fixture's rule: skip with a reason when the lab cannot run, but fail in CI."""

from __future__ import annotations

import lab_rules
import pytest


def test_in_ci_an_unavailable_lab_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and the lab is unavailable: no root"):
        lab_rules.lab_unavailable("no root")


@pytest.mark.parametrize("ci", ["", "false"])
def test_elsewhere_an_unavailable_lab_skips(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="no root"):
        lab_rules.lab_unavailable("no root")


class CollectedTest:
    def __init__(self, *fixturenames: str) -> None:
        self.fixturenames = fixturenames
        self.markers: list[str] = []

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.markers.append(marker.name)


def test_lab_tests_get_the_lab_marker(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("lab") is None  # this one uses no lab fixture
    uses = [CollectedTest(name, "tmp_path") for name in ("lab", "lab_with_agents", "spare_lab")]
    plain = CollectedTest("tmp_path", "monkeypatch")
    lab_rules.mark_lab_tests([*uses, plain])  # type: ignore[list-item]
    assert [test.markers for test in uses] == [["lab"]] * 3
    assert plain.markers == []
