"""What the engine tells the source agent about converging a migration: the convergence
schedule (vdsm's `convergenceSchedule`), whether post-copy is allowed, and the timeouts.

The schedules follow oVirt's migration policies. The agent counts *stalled iterations*
(iterations in which the remaining data did not reach a new low) and takes a step once the
count reaches the step's `stalled_iterations`, each step needing one more stall than the one
before; so the thresholds here strictly increase.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from miglane.engine.domain.model import (
    ConvergencePolicy,
    Help,
    MigrationPolicy,
)


class ConvergenceAction(IntEnum):
    """Mirrors `miglane.v1.ConvergenceAction` (same names, same numbers)."""

    UNSPECIFIED = 0
    SET_DOWNTIME = 1
    POST_COPY = 2
    ABORT = 3


@dataclass(frozen=True)
class ConvergenceStep:
    """After `stalled_iterations` stalled iterations, do `action`."""

    stalled_iterations: int
    action: ConvergenceAction
    # For SET_DOWNTIME.
    downtime_ms: int = 0


@dataclass(frozen=True)
class ConvergenceSchedule:
    initial_downtime_ms: int
    stalling: tuple[ConvergenceStep, ...]


INITIAL_DOWNTIME_MS = 100
# oVirt's "minimal downtime" ladder: (stalled iterations, allowed downtime in ms).
DOWNTIME_LADDER: tuple[tuple[int, int], ...] = ((1, 150), (2, 200), (3, 300), (4, 400), (6, 500))
# "Suspend workload if needed": after the ladder, let the guest pause this long.
SUSPEND_WORKLOAD_DOWNTIME_MS = 5000
# Stalls between the last step of a ladder and what follows it, so each step gets a chance.
STALLS_PER_FINAL_STEP = 2


def _ladder() -> list[ConvergenceStep]:
    return [
        ConvergenceStep(stalls, ConvergenceAction.SET_DOWNTIME, downtime)
        for stalls, downtime in DOWNTIME_LADDER
    ]


def _then(steps: list[ConvergenceStep], action: ConvergenceAction, downtime_ms: int = 0) -> None:
    steps.append(
        ConvergenceStep(steps[-1].stalled_iterations + STALLS_PER_FINAL_STEP, action, downtime_ms)
    )


def convergence_schedule(policy: ConvergencePolicy) -> ConvergenceSchedule:
    """The schedule for a cluster's convergence policy (UNSPECIFIED: minimal downtime).

    - MINIMAL_DOWNTIME: 100 ms, raised step by step to 500 ms, then abort (the VM stays on
      its source);
    - SUSPEND_WORKLOAD_IF_NEEDED: the same ladder, then 5000 ms, then abort;
    - POST_COPY: the same ladder, then post-copy. No abort after it: once the guest runs on
      the destination an abort would lose it.
    """
    steps = _ladder()
    if policy is ConvergencePolicy.POST_COPY:
        _then(steps, ConvergenceAction.POST_COPY)
    elif policy is ConvergencePolicy.SUSPEND_WORKLOAD_IF_NEEDED:
        _then(steps, ConvergenceAction.SET_DOWNTIME, SUSPEND_WORKLOAD_DOWNTIME_MS)
        _then(steps, ConvergenceAction.ABORT)
    else:
        _then(steps, ConvergenceAction.ABORT)
    return ConvergenceSchedule(INITIAL_DOWNTIME_MS, tuple(steps))


@dataclass(frozen=True)
class MigrationTuning:
    """Everything of the migrate verb that comes from the cluster's policy, defaults resolved:
    what the orchestration copies into the agent's `MigrateRequest`."""

    convergence_schedule: ConvergenceSchedule
    post_copy_allowed: bool
    no_progress_timeout_s: int
    completion_timeout_s_per_gib: int
    encrypted: bool
    compressed: bool
    auto_converge: bool
    # 1: a single connection.
    parallel_connections: int


def migration_tuning(policy: MigrationPolicy, help_: Help = Help.NONE) -> MigrationTuning:
    """The policy's convergence, timeouts and transport options, 0 / UNSPECIFIED resolved to
    the defaults (150 s without progress, 800 s per GiB of guest memory, one connection);
    `help_`: the help admission started the migration with, always turned on."""
    policy = policy.with_defaults()
    return MigrationTuning(
        convergence_schedule=convergence_schedule(policy.convergence),
        post_copy_allowed=(
            policy.convergence is ConvergencePolicy.POST_COPY or help_ is Help.POST_COPY
        ),
        no_progress_timeout_s=policy.no_progress_timeout_s,
        completion_timeout_s_per_gib=policy.completion_timeout_s_per_gib,
        encrypted=policy.encrypted,
        compressed=policy.compressed,
        auto_converge=policy.auto_converge or help_ is Help.AUTO_CONVERGE,
        parallel_connections=max(policy.parallel_connections, 1),
    )
