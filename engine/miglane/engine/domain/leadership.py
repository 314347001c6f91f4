"""Leader-lease policy: what an engine does with the lease it reads (renew, take over, follow),
the term a takeover starts, and until when a leader may command hosts. Pure: the database and
the clock are the caller's.

The lease is a row (term, holder, address, expiry by the database's clock). A leader renews it
every `renew_every_s`; it may command only until `ttl_s - margin_s` after it *sent* its last
successful renewal, measured on its own monotonic clock. The database extends the expiry from
the moment it *applied* the renewal, which is later, so the leader's own deadline always passes
before any other engine can see the lease expired (clock rates agree to far better than the
margin over a few seconds): a deposed leader has stopped commanding before the next one starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# The term an engine that is alone (SQLite: one engine per state dir) commands under.
SOLE_TERM = 1


@dataclass(frozen=True)
class LeaseTimings:
    # How long a renewal holds the lease, by the database's clock.
    ttl_s: float = 4.0
    # How often the leader renews, and how often a follower looks at the lease.
    renew_every_s: float = 1.0
    # The leader stops commanding this long before its lease could expire anywhere.
    margin_s: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.renew_every_s < self.ttl_s - self.margin_s:
            raise ValueError(
                f"renewals every {self.renew_every_s:g} s cannot hold a lease of "
                f"{self.ttl_s:g} s with a margin of {self.margin_s:g} s"
            )


@dataclass(frozen=True)
class Lease:
    """The lease row as read: `remaining_s` is its expiry minus the database's now (negative
    or zero: expired)."""

    term: int
    holder: str
    address: str
    remaining_s: float

    @property
    def expired(self) -> bool:
        return self.remaining_s <= 0


class LeaseStep(Enum):
    # The lease is ours and alive: extend it.
    RENEW = "renew"
    # Nobody holds a live lease: take it with the next term.
    TAKE_OVER = "take_over"
    # Another engine holds a live lease: follow it.
    FOLLOW = "follow"


def next_step(lease: Lease | None, me: str, *, leading: bool) -> LeaseStep:
    """What engine `me` does about the lease it read (None: no lease row yet). `me` names the
    engine's state dir, which one process at a time holds (its lock): a live lease of `me`
    while this process does not lead is its dead predecessor's (killed, then restarted) and is
    taken over at once, with a new term. A lease of ours that expired is taken over like
    anyone's (a new term), never renewed: we stopped commanding when it lapsed."""
    if lease is None or lease.expired:
        return LeaseStep.TAKE_OVER
    if lease.holder == me:
        return LeaseStep.RENEW if leading else LeaseStep.TAKE_OVER
    return LeaseStep.FOLLOW


def takeover_term(lease: Lease | None) -> int:
    """The term a takeover of `lease` starts: one above the last, so every leader's term is
    higher than every earlier leader's."""
    return SOLE_TERM if lease is None else lease.term + 1


def command_deadline(renewal_sent_at: float, timings: LeaseTimings) -> float:
    """Until when (on the leader's monotonic clock) a leader whose renewal, sent at
    `renewal_sent_at`, succeeded may command hosts."""
    return renewal_sent_at + timings.ttl_s - timings.margin_s


def may_command(now: float, deadline: float) -> bool:
    """Whether a leader may still command at `now` (strictly before its deadline)."""
    return now < deadline


DEFAULT_LEASE_TIMINGS = LeaseTimings()
