"""The migration-time model: from memory size, dirty rate, bandwidth and allowed downtime, the
pre-copy rounds, duration, data sent, downtime and whether the migration converges.

Pre-copy (QEMU's): round 0 sends all memory while the guest runs; round i sends what the guest
dirtied during round i-1, at most its writable working set (a guest rewriting the same pages
dirties no more than them, however fast it writes; its agent tells it from dirty rates over a
short and a long period: `MigrationLoad.working_set_bytes`). Once what is left would cross
within the allowed downtime, the guest pauses and it is sent (stop-and-copy), then the
destination takes over. With dirty rate D and bandwidth B, round i sends M·(D/B)^i: when D ≥ B
it never shrinks. Local disks are copied first, at the same bandwidth, while memory waits.

When plain pre-copy does not converge:
- auto-converge throttles the guest's vCPUs, up to QEMU's `cpu-throttle-max` (99%), dividing
  the dirty rate by up to 100: it helps when the throttled rate converges;
- post-copy switches over after the first round and pulls the pages dirtied meanwhile: it always
  finishes while there is bandwidth.
The verdict counts only the helps the cluster's policy allows.

The engine starts every migration at a 100 ms downtime and raises it step by step as the
agent sees iterations stall (`domain.convergence`): the verdict is judged at the allowed
downtime, and the duration counts the way there (QEMU's further rounds while they shrink, then
the set resent while the ladder climbs: `_downtime_climb`).

Calibration (the lab: 3 hosts in network namespaces, tiny guests under TCG):
- bench/bench_lab.py's libvirt job statistics: setup ~1 ms;
- tests/engine/test_prediction_lab.py (128 MiB guests migrated by libvirt at 32 MiB/s): QEMU's
  throughput under a cap is ~1.05x the cap (`THROUGHPUT_PER_CAP`), downtime ~20 ms, and the wall
  time outside the memory transfer (the destination's QEMU started, the job set up, handed over
  and the source cleaned up) ~0.44 s (`SETUP_S` + `SWITCH_OVER_S`). Predicted vs actual there:
  within a few percent (the test prints it; it fails above 25%).
- bench/storm_lab.py (an evacuation through the engine and the lab's agents: guests of 128-256
  MiB sharing a link shaped by tc at 400 Mbit/s = 47.7 MiB/s, the migration network's QoS
  saying so, so that the caps add up to the link), each migration split into its parts from
  its progress samples:
  - the engine's path costs ~0.9-3.2 s before the first byte (the agent checks the
    destination over a libvirt connection of its own and reads its NIC counters, then
    libvirt prepares the destination, with migrations starting together on a busy 2-core
    machine) and ~0.3-0.7 s after the last (the switch-over, libvirt's finish, the agent's
    report): `ENGINE_PATH_S` on top of the bare libvirt call's `SETUP_S`. That cost follows
    the machine's load (a constant fitted at load 5-12 was 7% off there and 12% off on a quiet
    machine), so the engine learns it instead (`domain.path_cost`): each completed
    migration's admission-to-completion time less its transfer at the rate its progress
    samples showed; predictions of migrations not yet started count the median of the latest
    (`predict`'s `fixed_s`, carried by `ClusterNetworks.path_fixed_s`), and
    `SETUP_S` + `ENGINE_PATH_S` (`DEFAULT_FIXED_S`) only until a few have completed;
  - the payload then moves at ~0.95-1.0 of the cap (17-24 MiB/s under a 23 MiB/s cap, the
    slower ones guests busy dirtying memory under TCG) and at ~0.97 of a link it has alone
    (`PAYLOAD_PER_LINK`; an earlier fit of 0.87 had counted the engine path's fixed costs as
    slow transfer).
  A migration's share of the link changes as others start and end: admission predicts it
  over the timeline of its links (`domain.timeline_forecast`), not at the share it starts at.
  A single migration under a cap below its link (test_prediction_lab) is bound by the cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from miglane.engine.domain.convergence import DOWNTIME_LADDER, INITIAL_DOWNTIME_MS
from miglane.engine.domain.model import MIB, ConvergenceVerdict, Help

# Wall time before the first byte of memory moves: libvirt's job setup is ~1-3 ms
# (bench_lab.py, test_prediction_lab.py); the rest is starting the destination's QEMU,
# connecting and cleaning up: an idle 128 MiB guest at 32 MiB/s took 4.26 s for 3.82 s of
# transfer (libvirt's memory_bps), 0.44 s of overhead, less SWITCH_OVER_S.
SETUP_S = 0.42
# The switch-over's fixed part, on top of sending the last dirty pages: libvirt's downtime of
# the lab's guests with next to nothing left to send was 20-22 ms.
SWITCH_OVER_S = 0.02
# What the engine's path adds to the bare libvirt call's fixed costs (`SETUP_S`, ~0.44 s with
# the switch-over), until the engine has learned its own (`domain.path_cost`): from the agent's
# start of the job to its first byte, and from its last byte to the job's end, bench_storm's
# lab evacuations took 1.2-3.7 s in all, median 2.1 s (19 migrations in 4 runs, the 2-core
# machine at a load of 5-12; 2.3-7.0 s in a run at load 20).
ENGINE_PATH_S = 1.7
# The wall time before a migration's data that predictions count by default (`predict`'s
# `fixed_s`): once the engine has completed a few migrations it learns its own
# (`domain.path_cost`).
DEFAULT_FIXED_S = SETUP_S + ENGINE_PATH_S
# QEMU's real throughput under a bandwidth cap, as a fraction of the cap: libvirt's memory_bps
# under a 32 MiB/s cap was 33.5-33.8 MiB/s on the lab (the cap counts only payload, QEMU's
# rate its own framing too).
THROUGHPUT_PER_CAP = 1.05
# The part of a saturated link's capacity that carries memory: a lab migration alone on a
# 400 Mbit/s (47.7 MiB/s) shaped link, capped at 47 MiB/s, moved ~46 MiB/s of memory.
PAYLOAD_PER_LINK = 0.97
# QEMU's and libvirt's default downtime limit (`downtime-limit` 300 ms).
DEFAULT_ALLOWED_DOWNTIME_S = 0.3
# QEMU's `cpu-throttle-max` default: auto-converge may take 99% of the vCPUs' time.
AUTO_CONVERGE_MAX_THROTTLE = 0.99
# QEMU keeps iterating forever; the model stops counting here and calls it "not converging".
MAX_ROUNDS = 30
# The downtimes the engine's convergence schedule allows in turn (`domain.convergence`): every
# migration starts at the first, and the agent raises it one step for each stalled iteration
# its job monitor sees. The verdict counts the allowed downtime; the duration counts the climb.
_LADDER_S = (INITIAL_DOWNTIME_MS / 1000, *(ms / 1000 for _, ms in DOWNTIME_LADDER))
# The agent sees iterations through its job monitor's samples, every 0.5 s (its default
# `--poll-interval`): a step of the ladder costs a sample's time of resending, the first one
# half of it on average. The lab's guest rewriting 4 MiB at a 23 MiB/s cap (0.17 s, above the
# first two steps) sent 13-22 MiB beyond its memory in 8 evacuations; 0.75 s at 23 MiB/s is 17.
LADDER_STEP_S = 0.5
# A round at least this much smaller than the one before is progress to the agent's stall
# detection (its NEW_LOW_MARGIN), not a stalled iteration.
_NEW_LOW_MARGIN = 0.02


@dataclass(frozen=True)
class MigrationLoad:
    """What a migration must move and how fast its guest dirties memory."""

    memory_bytes: int
    dirty_rate_bps: float = 0.0
    local_disk_bytes: int = 0
    # The memory the guest keeps rewriting; None: all of it.
    working_set_bytes: int | None = None

    @property
    def dirtied_cap(self) -> int:
        if self.working_set_bytes is None:
            return self.memory_bytes
        return min(self.working_set_bytes, self.memory_bytes)


@dataclass(frozen=True)
class Prediction:
    verdict: ConvergenceVerdict
    # A sentence saying why.
    reason: str
    # Bytes sent by each live pre-copy round (round 0: all memory).
    rounds: tuple[int, ...] = ()
    # Seconds from start to finish; math.inf when it never finishes.
    duration_s: float = math.inf
    # Memory and disks sent in all, stop-and-copy (or post-copy's pulls) included.
    data_sent_bytes: int = 0
    # Seconds the guest is paused at the switch-over; math.inf when it never gets there.
    downtime_s: float = math.inf
    help: Help = Help.NONE
    # The working set each round's resend was capped at (`MigrationLoad.working_set_bytes`);
    # None: none, a round may resend all memory.
    working_set_bytes: int | None = None

    @property
    def finishes(self) -> bool:
        return math.isfinite(self.duration_s)


@dataclass(frozen=True)
class _Run:
    rounds: tuple[int, ...]
    # What is left for the stop-and-copy, or None when the rounds never got there.
    final_bytes: int | None


def _pre_copy(
    load: MigrationLoad, dirty_bps: float, bandwidth_bps: float, downtime_s: float
) -> _Run:
    rounds: list[int] = []
    send = load.memory_bytes
    for _ in range(MAX_ROUNDS):
        rounds.append(send)
        dirtied = int(min(dirty_bps * send / bandwidth_bps, load.dirtied_cap))
        if dirtied / bandwidth_bps <= downtime_s:
            return _Run(tuple(rounds), dirtied)
        if dirtied >= send:
            break  # no round gets smaller than the one before
        send = dirtied
    return _Run(tuple(rounds), None)


@dataclass(frozen=True)
class _Climb:
    """What reaching the switch-over from the ladder's first downtime adds to a run: more
    live rounds while they still shrink, then the time resending while the ladder climbs."""

    more_rounds_bytes: int
    final_bytes: int
    climbing_s: float


def _downtime_climb(
    load: MigrationLoad, dirty_bps: float, bandwidth_bps: float, final_bytes: int
) -> _Climb:
    """From a run's `final_bytes` (what fits the allowed downtime): QEMU keeps iterating while
    what is left does not fit the ladder's first downtime; rounds that still shrink are
    progress, and once they stop the ladder climbs one step per `LADDER_STEP_S` to the first
    downtime that fits, the guest's set resent meanwhile."""
    more, send = 0, final_bytes
    for _ in range(MAX_ROUNDS):
        if send / bandwidth_bps <= _LADDER_S[0]:
            return _Climb(more, send, 0.0)
        # A guest with a working set rewrites all of it faster than its agent's shortest
        # measurement (what bounded it there): each of these short rounds finds it dirty.
        dirtied = (
            load.dirtied_cap
            if load.working_set_bytes is not None
            else int(min(dirty_bps * send / bandwidth_bps, load.dirtied_cap))
        )
        if dirtied >= send * (1 - _NEW_LOW_MARGIN):
            break
        more, send = more + send, dirtied
    fits = next((k for k, d in enumerate(_LADDER_S) if send / bandwidth_bps <= d), len(_LADDER_S))
    return _Climb(more, send, (fits - 0.5) * LADDER_STEP_S)


def _mib(bps: float) -> str:
    return f"{bps / MIB:.0f} MiB/s"


def predict(
    load: MigrationLoad,
    bandwidth_bps: float,
    allowed_downtime_s: float = DEFAULT_ALLOWED_DOWNTIME_S,
    *,
    auto_converge: bool = False,
    post_copy: bool = False,
    already_started: bool = False,
    fixed_s: float = DEFAULT_FIXED_S,
    downtime_ladder: bool = True,
) -> Prediction:
    """The prediction of a migration moving `load` at `bandwidth_bps`; `auto_converge` and
    `post_copy`: the helps its policy allows; `already_started`: no setup left to wait for;
    `fixed_s`: the wall time before its data moves (libvirt's setup and the engine's path),
    when it has not started; `downtime_ladder`: whether the downtime climbs the engine's ladder
    (every migration the engine starts) or is allowed from the start (a bare libvirt call)."""
    prediction = _predict(
        load,
        bandwidth_bps,
        allowed_downtime_s,
        auto_converge=auto_converge,
        post_copy=post_copy,
        setup_s=0.0 if already_started else fixed_s,
        ladder=downtime_ladder,
    )
    if load.working_set_bytes is None:
        return prediction
    return replace(prediction, working_set_bytes=load.working_set_bytes)


def _predict(
    load: MigrationLoad,
    bandwidth_bps: float,
    allowed_downtime_s: float,
    *,
    auto_converge: bool,
    post_copy: bool,
    setup_s: float,
    ladder: bool,
) -> Prediction:
    if bandwidth_bps <= 0:
        return Prediction(ConvergenceVerdict.NEVER_CONVERGES, "it gets no bandwidth")
    disk_s = load.local_disk_bytes / bandwidth_bps
    plain = _pre_copy(load, load.dirty_rate_bps, bandwidth_bps, allowed_downtime_s)
    if plain.final_bytes is not None:
        return _finished(
            load,
            plain.rounds,
            plain.final_bytes,
            bandwidth_bps,
            setup_s + disk_s,
            ConvergenceVerdict.CONVERGES,
            _converges_reason(load, plain, bandwidth_bps, allowed_downtime_s),
            climb=_downtime_climb(load, load.dirty_rate_bps, bandwidth_bps, plain.final_bytes)
            if ladder
            else None,
        )
    why = stall_reason(load, bandwidth_bps, allowed_downtime_s)
    throttled = _pre_copy(
        load,
        load.dirty_rate_bps * (1 - AUTO_CONVERGE_MAX_THROTTLE),
        bandwidth_bps,
        allowed_downtime_s,
    )
    if throttled.final_bytes is not None and auto_converge:
        return _finished(
            load,
            throttled.rounds,
            throttled.final_bytes,
            bandwidth_bps,
            setup_s + disk_s,
            ConvergenceVerdict.CONVERGES_ONLY_WITH_HELP,
            f"{why}: auto-converge throttling the guest finishes it",
            Help.AUTO_CONVERGE,
            climb=_downtime_climb(
                load,
                load.dirty_rate_bps * (1 - AUTO_CONVERGE_MAX_THROTTLE),
                bandwidth_bps,
                throttled.final_bytes,
            )
            if ladder
            else None,
        )
    if post_copy:
        first = load.memory_bytes
        pulled = int(min(load.dirty_rate_bps * first / bandwidth_bps, load.dirtied_cap))
        return _finished(
            load,
            (first,),
            pulled,
            bandwidth_bps,
            setup_s + disk_s,
            ConvergenceVerdict.CONVERGES_ONLY_WITH_HELP,
            f"{why}: post-copy finishes it after the first round",
            Help.POST_COPY,
            post_copy=True,
        )
    helps = "auto-converge or post-copy" if throttled.final_bytes is not None else "post-copy"
    return Prediction(
        ConvergenceVerdict.NEVER_CONVERGES,
        f"{why}: only {helps} would finish it, and the policy allows "
        f"{'auto-converge only' if auto_converge else 'neither'}",
        rounds=plain.rounds,
    )


def _finished(
    load: MigrationLoad,
    rounds: tuple[int, ...],
    final_bytes: int,
    bandwidth_bps: float,
    before_s: float,
    verdict: ConvergenceVerdict,
    reason: str,
    help_: Help = Help.NONE,
    *,
    post_copy: bool = False,
    climb: _Climb | None = None,
) -> Prediction:
    """`rounds` and `final_bytes` reach the allowed downtime; `climb`: what the engine's
    downtime ladder adds to get there (`_downtime_climb`), counted in the duration and the
    data sent."""
    more_bytes, climbing_s = 0, 0.0
    if climb is not None:
        more_bytes, final_bytes, climbing_s = (
            climb.more_rounds_bytes,
            climb.final_bytes,
            climb.climbing_s,
        )
    final_s = final_bytes / bandwidth_bps
    # Post-copy pulls the last pages while the guest already runs on the destination.
    downtime_s = SWITCH_OVER_S if post_copy else final_s + SWITCH_OVER_S
    live = sum(rounds) + more_bytes + int(climbing_s * bandwidth_bps)
    sent = load.local_disk_bytes + live + final_bytes
    return Prediction(
        verdict,
        reason,
        rounds=rounds,
        duration_s=before_s + live / bandwidth_bps + final_s + SWITCH_OVER_S,
        data_sent_bytes=sent,
        downtime_s=downtime_s,
        help=help_,
    )


def _converges_reason(
    load: MigrationLoad, run: _Run, bandwidth_bps: float, allowed_downtime_s: float
) -> str:
    count = len(run.rounds)
    rounds = "one round" if count == 1 else f"{count} rounds"
    if load.dirty_rate_bps <= 0:
        return f"the guest dirties no memory: {rounds} at {_mib(bandwidth_bps)}"
    return (
        f"dirties {_mib(load.dirty_rate_bps)}, less than the {_mib(bandwidth_bps)} it gets: "
        f"what is left fits the {allowed_downtime_s * 1000:.0f} ms downtime after {rounds}"
    )


def stall_reason(
    load: MigrationLoad,
    bandwidth_bps: float,
    allowed_downtime_s: float = DEFAULT_ALLOWED_DOWNTIME_S,
) -> str:
    """Why plain pre-copy of `load` at `bandwidth_bps` does not converge."""
    if load.dirty_rate_bps >= bandwidth_bps:
        return (
            f"dirties {_mib(load.dirty_rate_bps)}, more than the {_mib(bandwidth_bps)} it would "
            "get: pre-copy never catches up"
        )
    return (
        f"dirties {_mib(load.dirty_rate_bps)} of the {_mib(bandwidth_bps)} it would get: the "
        f"rounds shrink too slowly to fit the {allowed_downtime_s * 1000:.0f} ms downtime in "
        f"{MAX_ROUNDS} rounds"
    )


def expected_throughput_bps(cap_mibps: float, link_share_mibps: float | None = None) -> float:
    """What QEMU really moves under a cap of `cap_mibps` MiB/s (0: none), `link_share_mibps`
    its share of its link's capacity (None: the link is not what bounds it): the cap's
    overshoot, unless the link is saturated and carries less."""
    capped = cap_mibps * MIB * THROUGHPUT_PER_CAP if cap_mibps > 0 else math.inf
    if link_share_mibps is None:
        return capped if math.isfinite(capped) else 0.0
    return min(capped, link_share_mibps * MIB * PAYLOAD_PER_LINK)
