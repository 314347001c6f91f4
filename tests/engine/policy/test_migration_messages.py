"""The sentences of migration and maintenance events, reasons and errors, word for word."""

# The sentence table reads best one sentence per line.
# ruff: noqa: E501

from __future__ import annotations

from collections.abc import Callable

import pytest

from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.model import FallbackReason
from miglane.engine.domain.retry import MAX_DESTINATION_REFUSALS


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: say.queued("web", "h1", "h2"), "migration of VM 'web' from h1 to h2 requested"),
        (lambda: say.queued("web", "h1", ""), "migration of VM 'web' from h1 (the scheduler chooses the destination) requested"),
        (lambda: say.queued_for_evacuation("web", "h1"), "migration of VM 'web' queued to evacuate host 'h1'"),
        (lambda: say.fell_back("web", "h1", "h2", "mig0 is down"), "migration of VM 'web' from h1 to h2 falls back to the management network: mig0 is down"),
        (lambda: say.started("web", "h1", "h2", FallbackReason.NONE, "tcp://10.1.0.2", 40), "migration of VM 'web' from h1 to h2 started over the migration network (tcp://10.1.0.2, 40 MiB/s)"),
        (lambda: say.started("web", "h1", "h2", FallbackReason.NO_MIGRATION_NETWORK, "tcp://10.0.0.2", 0), "migration of VM 'web' from h1 to h2 started over the management network (tcp://10.0.0.2, no bandwidth cap)"),
        (lambda: say.failed("web", "no host"), "migration of VM 'web' failed: no host"),
        (lambda: say.cannot_leave_for_maintenance("web", "too big"), "VM 'web' cannot leave its host for maintenance: too big"),
        (lambda: say.cannot_leave_for_maintenance("web", "too big", "h1"), "VM 'web' cannot leave host 'h1' for maintenance: too big"),
        (lambda: say.rerun("rerun on another host", "mig-2"), "rerun on another host (migration mig-2)"),
        (lambda: say.cancelled_before_start("web"), "migration of VM 'web' cancelled before it started"),
        (lambda: say.cancelled_while_queued("web"), "queued migration of VM 'web' cancelled"),
        (lambda: say.evacuation_cancelled("web", "h1"), "queued evacuation of VM 'web' cancelled: host 'h1' leaves maintenance"),
        (lambda: say.evacuating(2, 1, 0), "evacuating: 2 VM(s) queued, 1 already migrating, 0 no host can take"),
        (lambda: say.source_unreachable("h1", "timed out"), "source host h1's agent: timed out; retrying"),
        (lambda: say.source_busy("h1", "2 jobs", "2026-01-01T00:00:10+00:00"), "source host h1's agent answered busy (2 jobs); retrying after 2026-01-01T00:00:10+00:00"),
        (lambda: say.source_refused("h1", "no such VM"), "source host h1's agent refused: no such VM"),
    ],
)  # fmt: skip
def test_sentences(build: Callable[[], str], expected: str) -> None:
    assert build() == expected


def test_a_destination_refusal_counts_the_retries_left() -> None:
    assert say.destination_refused("h2", "connection refused", 1) == (
        "destination host h2 refused or was unreachable (connection refused); retry 1 of "
        f"{MAX_DESTINATION_REFUSALS - 1}"
    )
