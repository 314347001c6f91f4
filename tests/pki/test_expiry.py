"""Which certificates expire soon, and how many days are left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from miglane.pki import EXPIRY_WARNING, CertificateInfo, Role, days_left, expiring, is_expired

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def info(serial: int, not_after: datetime, *, revoked: bool = False) -> CertificateInfo:
    return CertificateInfo(
        name=f"id-{serial}",
        role=Role.VIEWER,
        serial=serial,
        not_before=NOW - timedelta(days=365),
        not_after=not_after,
        sans=(),
        fingerprint="",
        revoked=revoked,
    )


@pytest.mark.parametrize(
    ("not_after", "left", "expired", "soon"),
    [
        (NOW + timedelta(days=365), 365, False, False),
        (NOW + EXPIRY_WARNING + timedelta(seconds=1), EXPIRY_WARNING.days, False, False),
        (NOW + EXPIRY_WARNING, EXPIRY_WARNING.days, False, True),
        (NOW + timedelta(days=1, hours=23), 1, False, True),
        (NOW + timedelta(hours=1), 0, False, True),
        (NOW, 0, True, True),
        (NOW - timedelta(hours=1), -1, True, True),
    ],
)
def test_expiry_table(not_after: datetime, left: int, expired: bool, soon: bool) -> None:
    certificate = info(1, not_after)
    assert days_left(certificate, NOW) == left
    assert is_expired(certificate, NOW) is expired
    assert (expiring([certificate], NOW) == [certificate]) is soon


def test_expiring_skips_revoked_and_sorts_soonest_first() -> None:
    later = info(1, NOW + timedelta(days=20))
    sooner = info(2, NOW + timedelta(days=2))
    revoked = info(3, NOW + timedelta(days=1), revoked=True)
    assert expiring([later, revoked, sooner], NOW) == [sooner, later]
    assert expiring([later, sooner], NOW, within=timedelta(days=5)) == [sooner]
