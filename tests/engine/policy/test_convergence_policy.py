"""ConvergencePolicy → the schedule and options the source agent gets."""

from __future__ import annotations

import pytest

from miglane.engine.domain.convergence import (
    ConvergenceAction,
    ConvergenceSchedule,
    convergence_schedule,
    migration_tuning,
)
from miglane.engine.domain.model import ConvergencePolicy, MigrationPolicy

A = ConvergenceAction
LADDER = [(1, A.SET_DOWNTIME, 150), (2, A.SET_DOWNTIME, 200), (3, A.SET_DOWNTIME, 300),
          (4, A.SET_DOWNTIME, 400), (6, A.SET_DOWNTIME, 500)]  # fmt: skip


def steps(schedule: ConvergenceSchedule) -> list[tuple[int, ConvergenceAction, int]]:
    return [(s.stalled_iterations, s.action, s.downtime_ms) for s in schedule.stalling]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param(
            ConvergencePolicy.MINIMAL_DOWNTIME, [*LADDER, (8, A.ABORT, 0)], id="minimal downtime"
        ),
        pytest.param(
            ConvergencePolicy.UNSPECIFIED, [*LADDER, (8, A.ABORT, 0)], id="unspecified: minimal"
        ),
        pytest.param(
            ConvergencePolicy.SUSPEND_WORKLOAD_IF_NEEDED,
            [*LADDER, (8, A.SET_DOWNTIME, 5000), (10, A.ABORT, 0)],
            id="suspend workload",
        ),
        pytest.param(
            ConvergencePolicy.POST_COPY, [*LADDER, (8, A.POST_COPY, 0)], id="post-copy, no abort"
        ),
    ],
)
def test_schedule(
    policy: ConvergencePolicy, expected: list[tuple[int, ConvergenceAction, int]]
) -> None:
    schedule = convergence_schedule(policy)
    assert schedule.initial_downtime_ms == 100
    assert steps(schedule) == expected


@pytest.mark.parametrize("policy", list(ConvergencePolicy))
def test_schedule_shape(policy: ConvergencePolicy) -> None:
    """The agent takes a step only after one more stall than the step before: thresholds must
    rise; downtime never falls; nothing follows an abort or post-copy."""
    stalling = convergence_schedule(policy).stalling
    thresholds = [s.stalled_iterations for s in stalling]
    assert thresholds == sorted(set(thresholds)) and thresholds[0] >= 1
    downtimes = [s.downtime_ms for s in stalling if s.action is A.SET_DOWNTIME]
    assert downtimes == sorted(downtimes) and downtimes[0] > 100
    assert stalling[-1].action in (A.ABORT, A.POST_COPY)
    assert all(s.action is A.SET_DOWNTIME for s in stalling[:-1])


@pytest.mark.parametrize(
    ("policy", "no_progress", "per_gib", "post_copy", "connections"),
    [
        pytest.param(MigrationPolicy(), 150, 800, False, 1, id="defaults"),
        pytest.param(
            MigrationPolicy(no_progress_timeout_s=0, completion_timeout_s_per_gib=0),
            150,
            800,
            False,
            1,
            id="0 means the default",
        ),
        pytest.param(
            MigrationPolicy(
                no_progress_timeout_s=30,
                completion_timeout_s_per_gib=60,
                convergence=ConvergencePolicy.POST_COPY,
                parallel_connections=4,
            ),
            30,
            60,
            True,
            4,
            id="set",
        ),
    ],
)
def test_tuning(
    policy: MigrationPolicy, no_progress: int, per_gib: int, post_copy: bool, connections: int
) -> None:
    tuning = migration_tuning(policy)
    assert tuning.no_progress_timeout_s == no_progress
    assert tuning.completion_timeout_s_per_gib == per_gib
    assert tuning.post_copy_allowed is post_copy
    assert tuning.parallel_connections == connections
    assert tuning.convergence_schedule == convergence_schedule(policy.convergence)


def test_transport_options_pass_through() -> None:
    tuning = migration_tuning(MigrationPolicy(encrypted=True, compressed=True, auto_converge=True))
    assert (tuning.encrypted, tuning.compressed, tuning.auto_converge) == (True, True, True)


def test_action_numbers_match_the_contract() -> None:
    from miglane.v1 import common_pb2

    for action in ConvergenceAction:
        assert common_pb2.ConvergenceAction.Value(f"CONVERGENCE_ACTION_{action.name}") == action


@pytest.mark.parametrize("policy", list(ConvergencePolicy))
def test_the_agent_takes_every_step_in_order(policy: ConvergencePolicy) -> None:
    """Fed to the agent's own stepper, one stall at a time, every step fires once, in order."""
    from miglane.agent.domain import convergence as agent
    from miglane.agent.domain import model as agent_model

    schedule = convergence_schedule(policy)
    as_agent = agent_model.ConvergenceSchedule(
        schedule.initial_downtime_ms,
        tuple(
            agent_model.ConvergenceStep(
                s.stalled_iterations, agent_model.ConvergenceAction[s.action.name], s.downtime_ms
            )
            for s in schedule.stalling
        ),
    )
    state = agent.ScheduleState()
    taken = []
    for stalls in range(1, 20):
        step, state = agent.next_convergence_step(
            as_agent,
            state,
            agent.StallState(iteration=stalls, lowest_remaining=1, stalled_iterations=stalls),
            post_copy_allowed=migration_tuning(
                MigrationPolicy(convergence=policy)
            ).post_copy_allowed,
        )
        if step is not None:
            taken.append((stalls, step.action.name, step.downtime_ms))
    assert taken == [
        (s.stalled_iterations, s.action.name, s.downtime_ms) for s in schedule.stalling
    ]
