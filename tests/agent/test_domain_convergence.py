"""Stall detection, the convergence schedule and the timeouts, as tables."""

import pytest

from miglane.agent.domain.convergence import (
    MIN_COMPLETION_TIMEOUT_S,
    ProgressWatermark,
    ScheduleState,
    StallState,
    TimeoutVerdict,
    next_convergence_step,
    observe_iteration,
    observe_remaining,
    timeout_verdict,
)
from miglane.agent.domain.model import (
    GIB,
    ConvergenceAction,
    ConvergenceSchedule,
    ConvergenceStep,
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
    ("now", "mark", "memory", "no_progress", "per_gib", "post_copy", "expected"),
    [
        (10, ProgressWatermark(5, 9), GIB, 0, 0, False, None),
        (200, ProgressWatermark(5, 40), GIB, 0, 0, False, TimeoutVerdict.NO_PROGRESS),  # 150 s
        (200, ProgressWatermark(5, 40), GIB, 0, 0, True, None),  # never abort post-copy
        (30, ProgressWatermark(5, 19), GIB, 10, 0, False, TimeoutVerdict.NO_PROGRESS),
        (30, ProgressWatermark(), GIB, 10, 0, False, TimeoutVerdict.NO_PROGRESS),  # since start
        (790, ProgressWatermark(1, 789), GIB, 0, 0, False, None),
        (800, ProgressWatermark(1, 799), GIB, 0, 0, False, TimeoutVerdict.COMPLETION),
        (201, ProgressWatermark(1, 200), 2 * GIB, 0, 100, False, TimeoutVerdict.COMPLETION),
        (199, ProgressWatermark(1, 198), 2 * GIB, 0, 100, False, None),
        # a small guest still gets the floor
        (MIN_COMPLETION_TIMEOUT_S - 1, ProgressWatermark(1, 58), GIB // 16, 0, 100, False, None),
        (
            MIN_COMPLETION_TIMEOUT_S,
            ProgressWatermark(1, 59),
            GIB // 16,
            0,
            100,
            False,
            TimeoutVerdict.COMPLETION,
        ),
    ],
)
def test_timeouts(now, mark, memory, no_progress, per_gib, post_copy, expected) -> None:  # type: ignore[no-untyped-def]
    verdict = timeout_verdict(
        now=now,
        started_at=0.0,
        watermark=mark,
        memory_bytes=memory,
        no_progress_timeout_s=no_progress,
        completion_timeout_s_per_gib=per_gib,
        post_copy=post_copy,
    )
    assert verdict == expected
