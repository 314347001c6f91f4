"""What becomes of a migration whose source agent refused to start it: retried later (with
which host left alone meanwhile) or failed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# A destination the source agent cannot reach is retried this many times before the migration
# fails.
MAX_DESTINATION_REFUSALS = 3


class Refusal(Enum):
    """Why the source agent did not start the job."""

    # Over one of its limits (RESOURCE_EXHAUSTED).
    SOURCE_BUSY = "source_busy"
    # The agent could not be reached, and no job of the migration is known there.
    SOURCE_UNREACHABLE = "source_unreachable"
    # Refused as asked (FAILED_PRECONDITION, INVALID_ARGUMENT...).
    REFUSED = "refused"
    OTHER = "other"


class BusyHost(Enum):
    """The host left alone for the busy-retry time before the migration is tried again."""

    SOURCE = "source"
    DESTINATION = "destination"


@dataclass(frozen=True)
class RetryDecision:
    # True: back to the queue; False: the migration fails.
    requeue: bool
    busy_host: BusyHost | None
    # The destination refusals counted for this migration after this one.
    refusals: int


def decide_after_refusal(
    refusal: Refusal, *, destination_refused: bool, refusals: int
) -> RetryDecision:
    """`destination_refused`: the source agent said the destination refused or was
    unreachable; `refusals`: how many times that happened to this migration before."""
    if refusal in (Refusal.SOURCE_BUSY, Refusal.SOURCE_UNREACHABLE):
        return RetryDecision(True, BusyHost.SOURCE, refusals)
    if refusal is Refusal.REFUSED and destination_refused:
        counted = refusals + 1
        if counted < MAX_DESTINATION_REFUSALS:
            return RetryDecision(True, BusyHost.DESTINATION, counted)
    return RetryDecision(False, None, 0)
