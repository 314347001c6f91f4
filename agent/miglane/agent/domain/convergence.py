"""Decisions of the migration monitor, as pure functions over small immutable states.

- stall detection: an iteration that does not bring the remaining data to a new low is stalled;
- the convergence schedule: after N stalled iterations take the next step (raise the allowed
  downtime, switch to post-copy, abort);
- timeouts: no progress (no new low of remaining data) for too long, or the whole job running
  longer than allowed per GiB of guest memory.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from miglane.agent.domain.model import (
    GIB,
    ConvergenceAction,
    ConvergenceSchedule,
    ConvergenceStep,
    Timeouts,
)

# What a Migrate request's 0 timeouts mean. The engine always sends its cluster policy's
# values (whose defaults are the same numbers); these serve the agent's other clients.
DEFAULT_NO_PROGRESS_TIMEOUT_S = 150  # KubeVirt's progressTimeout
DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB = 800  # Nova's live_migration_completion_timeout
MIN_COMPLETION_TIMEOUT_S = 60  # small guests would otherwise get seconds


@dataclass(frozen=True)
class StallState:
    """What the monitor remembers between samples to tell a stall."""

    iteration: int = 0
    lowest_remaining: int | None = None
    stalled_iterations: int = 0


# A new low must be this much lower than the old one: samples taken a little later into an
# iteration would otherwise look like progress on a migration that does not converge.
NEW_LOW_MARGIN = 0.02


def observe_iteration(state: StallState, iteration: int, data_remaining: int) -> StallState:
    """Counts consecutive iterations whose remaining data is not a new low (by more than
    NEW_LOW_MARGIN). Only a new iteration counts (samples within one iteration change
    nothing), and a new low resets the count."""
    if iteration <= state.iteration:
        return state
    lowest = state.lowest_remaining
    if lowest is None or data_remaining < lowest * (1 - NEW_LOW_MARGIN):
        return StallState(iteration, data_remaining, 0)
    return StallState(iteration, state.lowest_remaining, state.stalled_iterations + 1)


@dataclass(frozen=True)
class ScheduleState:
    """How far through the convergence schedule a job is."""

    next_step: int = 0
    stalled_at_last_step: int = 0


def next_convergence_step(
    schedule: ConvergenceSchedule,
    state: ScheduleState,
    stall: StallState,
    post_copy_allowed: bool,
) -> tuple[ConvergenceStep | None, ScheduleState]:
    """The step to take now, if any, and the schedule state after it.

    Step k fires once the count of stalled iterations reaches its `stalled_iterations` and at
    least one more stalled iteration was seen since step k-1 fired, so each step gets a chance
    to work. A POST_COPY step is skipped when post-copy is not allowed."""
    steps = schedule.stalling
    index = state.next_step
    if stall.stalled_iterations == 0 and state.stalled_at_last_step:
        state = ScheduleState(index, 0)  # converging again: later stalls count afresh
    while index < len(steps):
        step = steps[index]
        if step.action is ConvergenceAction.POST_COPY and not post_copy_allowed:
            index += 1
            continue
        if (
            stall.stalled_iterations >= max(step.stalled_iterations, 1)
            and stall.stalled_iterations > state.stalled_at_last_step
        ):
            return step, ScheduleState(index + 1, stall.stalled_iterations)
        break
    return None, ScheduleState(index, state.stalled_at_last_step)


class TimeoutVerdict(enum.Enum):
    NO_PROGRESS = "no progress"
    COMPLETION = "completion"


@dataclass(frozen=True)
class ProgressWatermark:
    """The lowest remaining data seen and when it was seen (monotonic seconds)."""

    lowest_remaining: int | None = None
    at: float = 0.0


def observe_remaining(
    mark: ProgressWatermark, data_remaining: int, now: float
) -> ProgressWatermark:
    if mark.lowest_remaining is None or data_remaining < mark.lowest_remaining:
        return ProgressWatermark(data_remaining, now)
    return mark


def resolve_timeouts(requested: Timeouts) -> Timeouts:
    """The timeouts in force: each 0 of the request replaced by the agent's default. The one
    place the defaults are applied."""
    return Timeouts(
        no_progress_s=requested.no_progress_s or DEFAULT_NO_PROGRESS_TIMEOUT_S,
        completion_s_per_gib=(
            requested.completion_s_per_gib or DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB
        ),
    )


def completion_timeout_s(memory_bytes: int, per_gib_s: int) -> float:
    return max(float(MIN_COMPLETION_TIMEOUT_S), per_gib_s * memory_bytes / GIB)


def timeout_verdict(
    *,
    now: float,
    started_at: float,
    watermark: ProgressWatermark,
    memory_bytes: int,
    timeouts: Timeouts,
    post_copy: bool,
) -> TimeoutVerdict | None:
    """Whether a running job should be aborted for taking too long, under `timeouts` in force
    (see `resolve_timeouts`).

    Never in post-copy: the guest already runs on the destination and an abort would lose it."""
    if post_copy:
        return None
    since = watermark.at if watermark.lowest_remaining is not None else started_at
    if now - since >= timeouts.no_progress_s:
        return TimeoutVerdict.NO_PROGRESS
    if now - started_at >= completion_timeout_s(memory_bytes, timeouts.completion_s_per_gib):
        return TimeoutVerdict.COMPLETION
    return None
