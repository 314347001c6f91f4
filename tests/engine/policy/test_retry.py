"""What a refusal of the source agent leads to: back to the queue (and which host is left alone)
or a failed migration."""

# The decision table reads best one case per line.
# ruff: noqa: E501

from __future__ import annotations

import pytest

from miglane.engine.domain.retry import (
    MAX_DESTINATION_REFUSALS,
    BusyHost,
    Refusal,
    RetryDecision,
    decide_after_refusal,
)

LAST = MAX_DESTINATION_REFUSALS - 1


@pytest.mark.parametrize(
    ("refusal", "destination_refused", "refusals", "expected"),
    [
        pytest.param(Refusal.SOURCE_BUSY, False, 0, RetryDecision(True, BusyHost.SOURCE, 0), id="busy source: retried, source left alone"),
        pytest.param(Refusal.SOURCE_BUSY, False, 1, RetryDecision(True, BusyHost.SOURCE, 1), id="busy source: destination refusals kept"),
        pytest.param(Refusal.SOURCE_UNREACHABLE, False, 0, RetryDecision(True, BusyHost.SOURCE, 0), id="unreachable source: retried"),
        pytest.param(Refusal.REFUSED, True, 0, RetryDecision(True, BusyHost.DESTINATION, 1), id="destination refused once: retried, destination left alone"),
        pytest.param(Refusal.REFUSED, True, LAST - 1, RetryDecision(True, BusyHost.DESTINATION, LAST), id="last retry"),
        pytest.param(Refusal.REFUSED, True, LAST, RetryDecision(False, None, 0), id="refused once too often: failed"),
        pytest.param(Refusal.REFUSED, False, 0, RetryDecision(False, None, 0), id="refused for another reason: failed"),
        pytest.param(Refusal.OTHER, True, 0, RetryDecision(False, None, 0), id="anything else: failed"),
    ],
)  # fmt: skip
def test_decide_after_refusal(
    refusal: Refusal, destination_refused: bool, refusals: int, expected: RetryDecision
) -> None:
    got = decide_after_refusal(refusal, destination_refused=destination_refused, refusals=refusals)
    assert got == expected


def test_a_destination_is_tried_max_refusals_times_in_all() -> None:
    refusals, attempts = 0, 0
    while True:
        attempts += 1
        decision = decide_after_refusal(
            Refusal.REFUSED, destination_refused=True, refusals=refusals
        )
        if not decision.requeue:
            break
        refusals = decision.refusals
    assert attempts == MAX_DESTINATION_REFUSALS
