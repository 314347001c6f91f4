"""Storm benchmark: evacuating a host, by Miglane's engine against oVirt's and KubeVirt's default
policies on the same simulated fabric and VMs, and (as root, with libvirt) on the real lab.

Simulated (`miglane.testing.storm`): 50 VMs (1-32 GiB, dirtying 0-300 MiB/s, fixed seed) on one
host, evacuated over 10 GbE migration links to 9 others. Each run is the real engine in this
process (`build_engine`: store, planner, admission queue, bandwidth balancer, job followers)
over real fake-driver agents on the link-aware fabric (`FakeFabric`: max-min fair sharing of
every NIC's egress and ingress), its clock sped up:
- Miglane: SetHostMaintenance, so the engine's evacuation planner (`plan_evacuation`) orders
  the migrations and its admission (the model's verdict at the bandwidth each would get) and
  AUTO bandwidth decide the rest; the agents report the VMs' dirty rates first, as they would
  have measured them (the fake's configured rates).
- oVirt's and KubeVirt's defaults (`OVIRT_DEFAULT`, `KUBEVIRT_DEFAULT`): one MigrateVm per VM in
  the VMs' order (first in, first out; the engine's scheduler picks each destination as the
  peers' do), with no dirty rates known (the peers measure none), so admission starts every
  one plain, as theirs do; a stalled one is aborted by the convergence schedule or the
  timeouts, and the engine reruns it elsewhere (up to 3 hosts) as oVirt does.
Simulated time is the real engine's time sped up (x25; x500 for oVirt's long run), not a
discrete-event loop, so that the engine runs as it ships: its reactions are event-driven (a job's
end rings the queue; the agents are woken by each iteration), and the fabric holds simulated time
from a job's end until the engine started the next one (at most HOLD_MAX_S real seconds), since
those tens of real milliseconds would otherwise become simulated seconds of an idle slot (the
bench prints the reaction in real milliseconds). The agents' timeouts count simulated seconds
(`simulated_timeouts`), so that a 240 s no-progress timeout is 240 simulated seconds at any
speed; the agents' sampling (AGENT_POLL_S real) is a few simulated seconds at most.
Makespan: from the evacuation's start to the end of its last migration job; for a baseline that
leaves VMs behind (aborted on 3 hosts) it is when the last attempt ended, which only flatters
the baseline. "Could not converge": a migration started at a rate (its cap, or its fair share of
the links at that moment) at which the model says plain pre-copy never converges.

Lab (`storm_lab`, as root with libvirt; else its two lines say "skipped"): see that module.
"""

from __future__ import annotations

import os

# grpc's C core logs each connection closed at shutdown; the figures are what matter here.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import argparse
import asyncio
import logging
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from miglane.agent.domain.model import DirtyRate, Nic, VmState
from miglane.agent.driver import DriverError
from miglane.agent.fake_driver import FakeClock, FakeFabric, _Job
from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.engine.app import Engine
from miglane.engine.domain.model import MIB, MigrationPolicy
from miglane.testing.engine_stack import (
    engine_authority,
    fake_agent_cluster,
    start_engine,
    wait_until_polled,
)
from miglane.testing.storm import (
    KUBEVIRT_DEFAULT,
    LINK_MBPS,
    MIGLANE_DEFAULT,
    OVIRT_DEFAULT,
    StartedMigration,
    StormOutcome,
    StormVm,
    lower_bound_s,
    storm_workload,
)

HOSTS = 10
SOURCE_MEMORY_MIB = 2 * 1024 * 1024
DESTINATION_MEMORY_MIB = 256 * 1024
# Real seconds between the agents' job samples: a few simulated seconds at the speeds below.
AGENT_POLL_S = 0.02
# Simulated seconds per real second while the engine reacts to a job's end (see RecordingFabric).
FROZEN_SPEED = 1e-6
HOLD_MAX_S = 0.5
MAKESPAN_TARGET = 1.15
OVIRT_TARGET = 3.0


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


def storm_nics(index: int) -> list[Nic]:
    """Host `index` on management 10.0.0.0/16 and migration 10.1.0.0/16, both 10 GbE."""
    a, b = divmod(index + 1, 250)
    return [
        Nic("eth0", f"52:54:00:00:{a:02x}:{b:02x}", (f"10.0.{a}.{b}/16",), True, LINK_MBPS, 1500),
        Nic("mig0", f"52:54:00:01:{a:02x}:{b:02x}", (f"10.1.{a}.{b}/16",), True, LINK_MBPS, 9000),
    ]


class RecordingFabric(FakeFabric):
    """The fake fabric, remembering each migration job: when it started and ended (simulated
    seconds), the rate it got when it started, and whether it completed.

    Simulated time stands (almost) still from a job's end until the next job starts, or at most
    HOLD_MAX_S real seconds (nothing else is queued, or it waits): the engine's reaction (the
    agent's report, the store, an admission pass, the Migrate call) takes tens of real
    milliseconds, nothing against migrations of minutes, but sped up it would take simulated
    seconds in which a slot stays empty."""

    def __init__(self, clock: FakeClock, vms: dict[str, StormVm]) -> None:
        super().__init__(clock)
        self.speed = clock.speed
        self._vms = vms
        self._started: dict[int, tuple[float, float]] = {}
        self.jobs: list[StartedMigration] = []
        # Real seconds each hold lasted (until the next start, or HOLD_MAX_S).
        self.holds: list[float] = []
        self._held_since: float | None = None
        self._generation = 0

    def start(self, job: _Job) -> None:
        super().start(job)
        with self.lock:
            self._started[id(job)] = (job.t, job.rate)
            self._release()

    def finish(self, job: _Job, error: DriverError | None) -> None:
        with self.lock:
            began = self._started.pop(id(job), None)
            if began is not None and job.domain.name in self._vms:
                self.jobs.append(
                    StartedMigration(
                        self._vms[job.domain.name], began[0], job.t, began[1], error is None
                    )
                )
            super().finish(job, error)
            if began is not None:
                self._hold()

    def _hold(self) -> None:
        self._generation += 1
        generation = self._generation
        if self._held_since is None:
            self._held_since = time.monotonic()
            self.clock.set_speed(FROZEN_SPEED)
        timer = threading.Timer(HOLD_MAX_S, self._release_if, args=(generation,))
        timer.daemon = True
        timer.start()

    def _release_if(self, generation: int) -> None:
        with self.lock:
            if generation == self._generation:
                self._release()

    def _release(self) -> None:
        if self._held_since is None:
            return
        self.holds.append(time.monotonic() - self._held_since)
        self._held_since = None
        self.clock.set_speed(self.speed)
        # The jobs' callers computed their waits at the frozen speed: wake them to recompute.
        for running in self._running_jobs():
            if running.cond is not None:
                running.cond.notify_all()


@dataclass(frozen=True)
class Scenario:
    name: str
    policy: MigrationPolicy
    # Simulated seconds per real second.
    speed: float
    # SetHostMaintenance with the VMs' dirty rates known (Miglane), or MigrateVm per VM in
    # order with none known (the peers).
    miglane: bool


async def _wait_for_dirty_rates(engine: Engine, cluster_id: str, count: int) -> None:
    while True:
        vms = (await engine.inventory.vms.list_vms(cluster_id, page_size=10_000)).items
        if sum(1 for vm in vms if vm.dirty_rate is not None) >= count:
            return
        await asyncio.sleep(0.05)


async def _start_world(
    scenario: Scenario, vms: tuple[StormVm, ...], tmp: Path
) -> tuple[RecordingFabric, list[FakeAgent], Engine, str, list[str], dict[str, str]]:
    fabric = RecordingFabric(FakeClock(scenario.speed), {vm.name: vm for vm in vms})
    _, agents = await start_fake_agents(
        HOSTS,
        fabric=fabric,
        poll_interval=AGENT_POLL_S,
        max_outgoing=8,
        nics=storm_nics,
        state_root=str(tmp / "agents"),
        authority=engine_authority(tmp / "engine"),
        measure_dirty_rates=False,
        simulated_timeouts=True,
    )
    for index, agent in enumerate(agents):  # before the engine first asks
        agent.host.memory_mib = SOURCE_MEMORY_MIB if index == 0 else DESTINATION_MEMORY_MIB
    source = agents[0]
    ids = {}
    for vm in vms:
        vm_id = source.host.add_domain(
            vm.name, memory_mib=vm.memory_mib, dirty_rate_mibps=vm.dirty_mibps
        )
        ids[vm.name] = vm_id
        if scenario.miglane:
            source.agent.dirty_rates.rates[vm_id] = DirtyRate(vm.dirty_mibps * MIB, time.time())
    engine = await start_engine(tmp / "engine", poll_interval_s=0.5)
    cluster_id, host_ids = await fake_agent_cluster(
        engine, agents, name="storm", policy=scenario.policy
    )
    await wait_until_polled(engine, cluster_id, hosts=HOSTS, vms=len(vms))
    if scenario.miglane:
        await _wait_for_dirty_rates(engine, cluster_id, len(vms))
    return fabric, agents, engine, cluster_id, host_ids, ids


async def evacuate(
    scenario: Scenario, vms: tuple[StormVm, ...], timeout_s: float
) -> tuple[StormOutcome, float, list[float]]:
    """One evacuation of host0: its outcome, the real seconds it took, and the real seconds
    the engine took to start a job after one ended (simulated time held meanwhile)."""
    tmp = Path(tempfile.mkdtemp(prefix="miglane-bench-storm-"))
    fabric, agents, engine, cluster_id, host_ids, ids = await _start_world(scenario, vms, tmp)
    try:
        began = fabric.clock.now()
        real_began = time.monotonic()
        if scenario.miglane:
            await engine.migrations.set_host_maintenance(host_ids[0], True)
        else:
            for vm in vms:
                await engine.migrations.migrate_vm(ids[vm.name])
        deadline = time.monotonic() + timeout_s
        while engine.ledger.active_of(cluster_id):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{scenario.name}: evacuation not over after {timeout_s} s")
            await asyncio.sleep(0.05)
        real_s = time.monotonic() - real_began
        with fabric.lock:
            left = sum(
                1
                for domain in agents[0].host.domains.values()
                if domain.name in ids and domain.state is VmState.RUNNING
            )
            jobs = tuple(fabric.jobs)
            reactions = [hold for hold in fabric.holds if hold < HOLD_MAX_S]
        return StormOutcome(began, jobs, left), real_s, reactions
    finally:
        await engine.stop(0.2)
        await stop_fake_agents(agents, grace=0)
        shutil.rmtree(tmp, ignore_errors=True)


def describe(
    name: str, outcome: StormOutcome, real_s: float, speed: float, reactions: list[float]
) -> str:
    completed = sum(1 for job in outcome.jobs if job.completed)
    agree, total = outcome.fabric_agreement()
    return (
        f"  {name}: makespan {outcome.makespan_s:.0f} s simulated ({real_s:.0f} s real at "
        f"x{speed:g}), {len(outcome.jobs)} jobs, {completed} completed, "
        f"{outcome.left_on_source} VMs left on the source; model verdict at start matches the "
        f"fabric's outcome for {agree}/{total}; engine reaction median "
        f"{statistics.median(reactions or [0.0]) * 1000:.0f} ms real (simulated time held)"
    )


async def simulated(args: argparse.Namespace) -> list[str]:
    """The first four lines, and notes of how each run went."""
    vms = storm_workload()
    miglane_policy = MIGLANE_DEFAULT
    if args.max_outgoing:
        miglane_policy = replace(miglane_policy, max_outgoing_per_host=args.max_outgoing)
    scenarios = [
        Scenario("Miglane", miglane_policy, args.speed, miglane=True),
        Scenario("oVirt default", OVIRT_DEFAULT, args.ovirt_speed, miglane=False),
        Scenario("KubeVirt default", KUBEVIRT_DEFAULT, args.speed, miglane=False),
    ]
    if args.only:
        scenarios = [s for s in scenarios if s.name == args.only]
    outcomes = {}
    for scenario in scenarios:
        outcome, real_s, reactions = await evacuate(scenario, vms, args.timeout)
        outcomes[scenario.name] = outcome
        print(describe(scenario.name, outcome, real_s, scenario.speed, reactions), flush=True)
    if args.only:
        return []
    ours, ovirt, kubevirt = (outcomes[s.name] for s in scenarios)
    bound = lower_bound_s(vms)
    print(
        f"  lower bound {bound:.0f} s: {sum(vm.memory_mib for vm in vms) / 1024:.0f} GiB of "
        f"memory (and the pages dirtied meanwhile) over one {LINK_MBPS // 1000} GbE link"
    )
    ratio = ours.makespan_s / bound
    faster = ovirt.makespan_s / ours.makespan_s
    print(
        f"  targets: makespan <= {MAKESPAN_TARGET}x the lower bound: "
        f"{_met(ratio <= MAKESPAN_TARGET)}; >= {OVIRT_TARGET:g}x faster than oVirt's default: "
        f"{_met(faster >= OVIRT_TARGET)}; "
        f"0 non-converging started: {_met(not ours.not_converging)}"
    )
    return [
        f"evacuation makespan / lower bound: {ratio:.2f}",
        f"vs oVirt default policy: {faster:.1f}x faster",
        f"vs KubeVirt default policy: {kubevirt.makespan_s / ours.makespan_s:.1f}x faster",
        f"migrations started that could not converge: {len(ours.not_converging)} "
        f"(oVirt default: {len(ovirt.not_converging)}, KubeVirt default: "
        f"{len(kubevirt.not_converging)})",
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=25.0, help="fake clock speed-up")
    parser.add_argument(
        "--ovirt-speed", type=float, default=500.0, help="fake clock speed-up for oVirt's run"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="real seconds per run")
    parser.add_argument(
        "--max-outgoing",
        type=int,
        default=0,
        help="Miglane's max_outgoing_per_host (default: the engine's default policy)",
    )
    parser.add_argument("--only", default="", help="run only this scenario (no figures)")
    parser.add_argument("--skip-lab", action="store_true")
    parser.add_argument("--skip-simulation", action="store_true")
    args = parser.parse_args(argv)
    # The engine's event log (every baseline abort is an error event) and the races the agents
    # get over (a downtime set as the job ended) are not figures.
    logging.getLogger("miglane").setLevel(logging.CRITICAL)
    lines = [] if args.skip_simulation else asyncio.run(simulated(args))
    if os.geteuid() != 0 or shutil.which("virsh") is None or args.skip_lab:
        lines += [
            "prediction error on the lab, median |predicted - actual| / actual: "
            "skipped: needs root and libvirt",
            "management link during evacuation with the migration role: "
            "skipped: needs root and libvirt",
        ]
    else:
        from storm_lab import lab_lines  # imports libvirt: only where there is one

        lines += lab_lines()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
