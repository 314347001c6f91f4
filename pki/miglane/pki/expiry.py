"""Expiry: which certificates end soon, and how many days are left (pure functions of now)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from miglane.pki.identities import CertificateInfo

EXPIRY_WARNING = timedelta(days=30)


def days_left(info: CertificateInfo, now: datetime) -> int:
    """Whole days until not-after, rounded down; negative once expired."""
    return math.floor((info.not_after - now) / timedelta(days=1))


def is_expired(info: CertificateInfo, now: datetime) -> bool:
    return info.not_after <= now


def expiring(
    infos: Iterable[CertificateInfo], now: datetime, within: timedelta = EXPIRY_WARNING
) -> list[CertificateInfo]:
    """The unrevoked certificates that end within `within` of now, already expired ones
    included (they need a re-issue just the same), soonest first."""
    soon = [i for i in infos if not i.revoked and i.not_after <= now + within]
    return sorted(soon, key=lambda info: info.not_after)
