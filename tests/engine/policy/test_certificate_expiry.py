"""Which certificates the expiry check announces: the newest live one of each identity,
entering the warning window, once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from miglane.engine.domain.certificates import ExpiringCertificate, to_announce, whole_days_left

from .builders import T0

WINDOW = timedelta(days=30)


def cert(
    serial: str, days: float, *, name: str = "h1", role: str = "host", revoked: bool = False
) -> ExpiringCertificate:
    return ExpiringCertificate(name, role, serial, T0 + timedelta(days=days), revoked=revoked)


@pytest.mark.parametrize(
    ("certificates", "announced", "expected"),
    [
        pytest.param([cert("a", 31)], [], [], id="outside the window"),
        pytest.param([cert("a", 30)], [], ["a"], id="at the window's edge"),
        pytest.param([cert("a", 29)], [], ["a"], id="inside the window"),
        pytest.param([cert("a", -1)], [], ["a"], id="already expired"),
        pytest.param([cert("a", 29)], ["a"], [], id="announced before"),
        pytest.param([cert("a", 29, revoked=True)], [], [], id="revoked"),
        pytest.param([cert("a", 29), cert("b", 365)], [], [], id="replaced by a re-issue"),
        pytest.param(
            [cert("a", 20), cert("b", 25, revoked=True)], [], ["a"],
            id="the longest-lasting live one counts",
        ),
        pytest.param(
            [cert("a", 20), cert("b", 10, name="h2"), cert("c", 5, name="h1", role="admin")],
            [], ["c", "b", "a"],
            id="each identity, soonest first",
        ),
    ],
)  # fmt: skip
def test_to_announce(
    certificates: list[ExpiringCertificate], announced: list[str], expected: list[str]
) -> None:
    due = to_announce(certificates, announced, T0, WINDOW)
    assert [c.serial for c in due] == expected
    for certificate in due:
        assert certificate.days_left == whole_days_left(certificate.not_after, T0)


@pytest.mark.parametrize(
    ("delta", "days"),
    [(timedelta(days=2, hours=23), 2), (timedelta(0), 0), (-timedelta(hours=1), -1)],
)
def test_whole_days_left_rounds_down(delta: timedelta, days: int) -> None:
    assert whole_days_left(T0 + delta, T0) == days


@pytest.mark.parametrize(
    ("role", "hint"),
    [
        ("host", "`miglane pki issue-host h1 --address MANAGEMENT_ADDRESS`"),
        ("viewer", "`miglane pki issue h1 --role viewer --out DIR`"),
    ],
)
def test_reissue_hint(role: str, hint: str) -> None:
    assert cert("a", 1, role=role).reissue_hint == hint
