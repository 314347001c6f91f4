"""Table tests of the leader-lease policy: the step taken on the lease read, the takeover term,
and the deadline a leader commands until."""

from __future__ import annotations

import pytest

from miglane.engine.domain.leadership import (
    SOLE_TERM,
    Lease,
    LeaseStep,
    LeaseTimings,
    command_deadline,
    may_command,
    next_step,
    takeover_term,
)

ME, OTHER = "engine-a", "engine-b"
TIMINGS = LeaseTimings(ttl_s=4.0, renew_every_s=1.0, margin_s=0.5)


@pytest.mark.parametrize(
    ("lease", "leading", "step"),
    [
        (None, False, LeaseStep.TAKE_OVER),
        (Lease(3, ME, "a:1", remaining_s=2.0), True, LeaseStep.RENEW),
        (Lease(3, OTHER, "b:1", remaining_s=2.0), False, LeaseStep.FOLLOW),
        (Lease(3, OTHER, "b:1", remaining_s=0.0), False, LeaseStep.TAKE_OVER),
        (Lease(3, OTHER, "b:1", remaining_s=-5.0), False, LeaseStep.TAKE_OVER),
        # Ours but lapsed: we stopped commanding; only a new term may command again.
        (Lease(3, ME, "a:1", remaining_s=-0.1), True, LeaseStep.TAKE_OVER),
        # Ours, alive, and this process does not lead: its predecessor on this state dir died.
        (Lease(3, ME, "a:1", remaining_s=2.0), False, LeaseStep.TAKE_OVER),
    ],
)
def test_next_step(lease: Lease | None, leading: bool, step: LeaseStep) -> None:
    assert next_step(lease, ME, leading=leading) is step


@pytest.mark.parametrize(
    ("lease", "term"),
    [
        (None, SOLE_TERM),
        (Lease(1, OTHER, "b:1", remaining_s=-1.0), 2),
        (Lease(41, ME, "a:1", remaining_s=-1.0), 42),
    ],
)
def test_takeover_term_is_above_every_earlier_term(lease: Lease | None, term: int) -> None:
    assert takeover_term(lease) == term


@pytest.mark.parametrize(
    ("sent_at", "now", "commands"),
    [
        (100.0, 100.0, True),
        (100.0, 100.0 + TIMINGS.ttl_s - TIMINGS.margin_s - 0.01, True),
        # The deadline itself is past: the database may expire the lease soon after.
        (100.0, 100.0 + TIMINGS.ttl_s - TIMINGS.margin_s, False),
        # A leader paused (SIGSTOP) past its lease wakes up unable to command.
        (100.0, 100.0 + 60.0, False),
    ],
)
def test_leader_commands_only_before_its_deadline(
    sent_at: float, now: float, commands: bool
) -> None:
    assert may_command(now, command_deadline(sent_at, TIMINGS)) is commands


def test_deadline_passes_before_the_database_expires_the_lease() -> None:
    # The database extends from when it applied the renewal (at or after it was sent).
    sent_at = 10.0
    database_expiry_at_earliest = sent_at + TIMINGS.ttl_s
    assert command_deadline(sent_at, TIMINGS) < database_expiry_at_earliest


@pytest.mark.parametrize(
    ("ttl_s", "renew_every_s", "margin_s"),
    [(4.0, 4.0, 0.5), (4.0, 3.6, 0.5), (4.0, 0.0, 0.5), (1.0, 0.5, 1.0)],
)
def test_timings_that_cannot_hold_a_lease_are_refused(
    ttl_s: float, renew_every_s: float, margin_s: float
) -> None:
    with pytest.raises(ValueError, match="cannot hold a lease"):
        LeaseTimings(ttl_s=ttl_s, renew_every_s=renew_every_s, margin_s=margin_s)
