"""Certificate expiry as the engine announces it: which certificates of its CA are worth one
CERTIFICATE_EXPIRING event (the longest-lasting live certificate of each identity, entering its
last days, not announced before) and how to re-issue each kind."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

HOST_ROLE = "host"
ENGINE_ROLE = "engine"


@dataclass(frozen=True)
class ExpiringCertificate:
    """A certificate of the engine's CA as the expiry check sees it. `serial`: hex text, as
    `miglane pki list` shows it; `role`: the identity's kind ("host", "engine", "admin", ...)."""

    name: str
    role: str
    serial: str
    not_after: datetime
    revoked: bool = False
    days_left: int = 0

    @property
    def reissue_hint(self) -> str:
        if self.role == HOST_ROLE:
            return f"`miglane pki issue-host {self.name} --address MANAGEMENT_ADDRESS`"
        if self.role == ENGINE_ROLE:
            return "move the engine's credentials directory aside and run `miglane pki init`"
        return f"`miglane pki issue {self.name} --role {self.role} --out DIR`"


def whole_days_left(not_after: datetime, now: datetime) -> int:
    """Whole days until `not_after`, rounded down; negative once it has passed."""
    return math.floor((not_after - now) / timedelta(days=1))


def to_announce(
    certificates: Iterable[ExpiringCertificate],
    announced: Iterable[str],
    now: datetime,
    within: timedelta,
) -> list[ExpiringCertificate]:
    """The certificates to announce now, soonest first, each with its days left: per identity
    (name and role) only the unrevoked one that lasts longest — one ending earlier was
    replaced by a re-issue — when it ends within `within` of now and its serial is not in
    `announced`."""
    newest: dict[tuple[str, str], ExpiringCertificate] = {}
    for certificate in certificates:
        if certificate.revoked:
            continue
        key = (certificate.name, certificate.role)
        held = newest.get(key)
        if held is None or certificate.not_after > held.not_after:
            newest[key] = certificate
    done = set(announced)
    due = [
        ExpiringCertificate(
            c.name, c.role, c.serial, c.not_after, days_left=whole_days_left(c.not_after, now)
        )
        for c in newest.values()
        if c.not_after <= now + within and c.serial not in done
    ]
    return sorted(due, key=lambda c: (c.not_after, c.name))
