"""Stall detection, the convergence schedule and the timeouts, as tables."""

import pytest

from miglane.agent.domain.convergence import (
    DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB,
    DEFAULT_NO_PROGRESS_TIMEOUT_S,
    MIN_COMPLETION_TIMEOUT_S,
    ProgressWatermark,
    ScheduleState,
    StallState,
    TimeoutVerdict,
    next_convergence_step,
    observe_iteration,
    observe_remaining,
    resolve_timeouts,
    timeout_verdict,
)
from miglane.agent.domain.model import (
    GIB,
    ConvergenceAction,
    ConvergenceSchedule,
    ConvergenceStep,
    Timeouts,
)

A = ConvergenceAction


def stalls(samples: list[tuple[int, int]]) -> list[int]:
    state = StallState()
    counts = []
    for iteration, remaining in samples:
        state = observe_iteration(state, iteration, remaining)
        counts.append(state.stalled_iterations)
    return counts


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([(1, 100), (2, 50), (3, 20)], [0, 0, 0]),  # converging
        ([(1, 100), (2, 60), (3, 60), (4, 70)], [0, 0, 1, 2]),  # no new low
        ([(1, 100), (2, 60), (3, 70), (4, 50)], [0, 0, 1, 0]),  # a new low resets
        ([(1, 100), (1, 10), (1, 5), (2, 60)], [0, 0, 0, 0]),  # same iteration: no count
        ([(1, 100), (2, 60), (2, 90), (3, 90)], [0, 0, 0, 1]),
        ([(2, 50), (1, 10)], [0, 0]),  # an older iteration changes nothing
        ([(1, 1000), (2, 500), (3, 495), (4, 489)], [0, 0, 1, 0]),  # within 2%: no new low
    ],
)
def test_stall_counting(samples: list[tuple[int, int]], expected: list[int]) -> None:
    assert stalls(samples) == expected


MINIMAL_DOWNTIME = ConvergenceSchedule(
    100,
    (
        ConvergenceStep(1, A.SET_DOWNTIME, 150),
        ConvergenceStep(2, A.SET_DOWNTIME, 300),
        ConvergenceStep(3, A.POST_COPY),
        ConvergenceStep(4, A.ABORT),
    ),
)


def run_schedule(
    schedule: ConvergenceSchedule, stalled: list[int], post_copy_allowed: bool = True
) -> list[str]:
    state = ScheduleState()
    taken = []
    for count in stalled:
        step, state = next_convergence_step(
            schedule, state, StallState(1, 0, count), post_copy_allowed
        )
        if step is None:
            taken.append("-")
        elif step.action is A.SET_DOWNTIME:
            taken.append(f"downtime {step.downtime_ms}")
        else:
            taken.append(step.action.value)
    return taken


@pytest.mark.parametrize(
    ("stalled", "post_copy_allowed", "expected"),
    [
        ([0, 0, 0], True, ["-", "-", "-"]),
        ([0, 1, 2, 3, 4], True, ["-", "downtime 150", "downtime 300", "post_copy", "abort"]),
        ([1, 1, 1, 2], True, ["downtime 150", "-", "-", "downtime 300"]),  # one step per stall
        ([0, 1, 2, 3, 4], False, ["-", "downtime 150", "downtime 300", "-", "abort"]),
        ([4], True, ["downtime 150"]),  # a late look still takes steps one at a time
        ([1, 0, 1, 2], True, ["downtime 150", "-", "-", "downtime 300"]),  # converged: count anew
        (
            [1, 2, 3, 4, 5, 6],
            True,
            ["downtime 150", "downtime 300", "post_copy", "abort", "-", "-"],
        ),  # schedule ends
    ],
)
def test_schedule(stalled: list[int], post_copy_allowed: bool, expected: list[str]) -> None:
    assert run_schedule(MINIMAL_DOWNTIME, stalled, post_copy_allowed) == expected


def test_step_with_zero_limit_waits_for_one_stall() -> None:
    schedule = ConvergenceSchedule(0, (ConvergenceStep(0, A.ABORT),))
    assert run_schedule(schedule, [0, 1]) == ["-", "abort"]


def test_empty_schedule_never_acts() -> None:
    assert run_schedule(ConvergenceSchedule(), [1, 2, 3]) == ["-", "-", "-"]


def test_watermark_moves_only_on_new_low() -> None:
    mark = ProgressWatermark()
    mark = observe_remaining(mark, 100, 1.0)
    mark = observe_remaining(mark, 120, 2.0)
    assert mark == ProgressWatermark(100, 1.0)
    assert observe_remaining(mark, 99, 3.0) == ProgressWatermark(99, 3.0)


@pytest.mark.parametrize(
    ("requested", "in_force"),
    [
        (
            Timeouts(),
            Timeouts(DEFAULT_NO_PROGRESS_TIMEOUT_S, DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB),
        ),
        (Timeouts(10, 0), Timeouts(10, DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB)),
        (Timeouts(0, 100), Timeouts(DEFAULT_NO_PROGRESS_TIMEOUT_S, 100)),
        (Timeouts(10, 100), Timeouts(10, 100)),
    ],
)
def test_zero_timeouts_resolve_to_the_defaults(requested: Timeouts, in_force: Timeouts) -> None:
    assert resolve_timeouts(requested) == in_force


DEFAULTS = resolve_timeouts(Timeouts())
NO_PROGRESS = DEFAULT_NO_PROGRESS_TIMEOUT_S
PER_GIB = DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB


@pytest.mark.parametrize(
    ("now", "mark", "memory", "timeouts", "post_copy", "expected"),
    [
        (10, ProgressWatermark(5, 9), GIB, DEFAULTS, False, None),
        (
            40 + NO_PROGRESS,
            ProgressWatermark(5, 40),
            GIB,
            DEFAULTS,
            False,
            TimeoutVerdict.NO_PROGRESS,
        ),
        (39 + NO_PROGRESS, ProgressWatermark(5, 40), GIB, DEFAULTS, False, None),
        (40 + NO_PROGRESS, ProgressWatermark(5, 40), GIB, DEFAULTS, True, None),  # post-copy
        (
            30,
            ProgressWatermark(5, 19),
            GIB,
            Timeouts(10, PER_GIB),
            False,
            TimeoutVerdict.NO_PROGRESS,
        ),
        # no watermark yet: counted from the start
        (30, ProgressWatermark(), GIB, Timeouts(10, PER_GIB), False, TimeoutVerdict.NO_PROGRESS),
        (PER_GIB - 10, ProgressWatermark(1, PER_GIB - 11), GIB, DEFAULTS, False, None),
        (
            PER_GIB,
            ProgressWatermark(1, PER_GIB - 1),
            GIB,
            DEFAULTS,
            False,
            TimeoutVerdict.COMPLETION,
        ),
        (
            201,
            ProgressWatermark(1, 200),
            2 * GIB,
            Timeouts(NO_PROGRESS, 100),
            False,
            TimeoutVerdict.COMPLETION,
        ),
        (199, ProgressWatermark(1, 198), 2 * GIB, Timeouts(NO_PROGRESS, 100), False, None),
        # a small guest still gets the floor
        (
            MIN_COMPLETION_TIMEOUT_S - 1,
            ProgressWatermark(1, MIN_COMPLETION_TIMEOUT_S - 2),
            GIB // 16,
            Timeouts(NO_PROGRESS, 100),
            False,
            None,
        ),
        (
            MIN_COMPLETION_TIMEOUT_S,
            ProgressWatermark(1, MIN_COMPLETION_TIMEOUT_S - 1),
            GIB // 16,
            Timeouts(NO_PROGRESS, 100),
            False,
            TimeoutVerdict.COMPLETION,
        ),
    ],
)
def test_timeouts(now, mark, memory, timeouts, post_copy, expected) -> None:  # type: ignore[no-untyped-def]
    verdict = timeout_verdict(
        now=now,
        started_at=0.0,
        watermark=mark,
        memory_bytes=memory,
        timeouts=timeouts,
        post_copy=post_copy,
    )
    assert verdict == expected


def test_default_timeouts_are_the_engine_policy_defaults() -> None:
    """A client that leaves a timeout at 0 gets what the engine sends for a default policy."""
    from miglane.engine.domain.convergence import migration_tuning
    from miglane.engine.domain.model import MigrationPolicy

    tuning = migration_tuning(MigrationPolicy())
    assert Timeouts(tuning.no_progress_timeout_s, tuning.completion_timeout_s_per_gib) == DEFAULTS
