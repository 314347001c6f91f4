"""The evacuation storm of `bench/bench_storm.py`: its workload (VMs of fixed-seed sizes and
dirty rates), the peers' default policies it is compared with, and the figures it reports (the
physical lower bound, which started migrations could not converge, the makespan).

The peers' defaults, as the engine's policy expresses them:
- oVirt (vdsm's defaults): 2 outgoing and 2 incoming migrations per host, 52 MiB/s each
  (`migration_max_bandwidth`), the "minimal downtime" convergence schedule that ends in an
  abort, 240 s without progress (`migration_progress_timeout`), 64 s per GiB in all
  (`migration_max_time_per_gib_mem`).
- KubeVirt (its migration configuration's defaults): 2 outbound migrations per node
  (`parallelOutboundMigrationsPerNode`), 5 per cluster (`parallelMigrationsPerCluster`), no
  bandwidth cap (`bandwidthPerMigration: 0`), 150 s without progress (`progressTimeout`), 150 s
  per GiB (`completionTimeoutPerGiB`). It has no per-node incoming limit: the cluster's 5 bound
  it.
Both order migrations first in, first out, and neither measures dirty rates before starting one.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from miglane.agent.domain.model import Nic
from miglane.agent.driver import MigrationParams
from miglane.agent.fake_driver import FakeClock, FakeDriver, FakeFabric, FakeHost
from miglane.engine.domain.model import MIB, BandwidthMode, ConvergenceVerdict, MigrationPolicy
from miglane.engine.domain.prediction import SETUP_S, SWITCH_OVER_S, MigrationLoad, predict

STORM_SEED = 11
STORM_VMS = 50
MEMORY_GIB = (1, 32)
DIRTY_MIBPS = (0, 300)
# 10 GbE: the migration links of the storm, in bytes/s.
LINK_MBPS = 10_000
LINK_BPS = LINK_MBPS * 1_000_000 / 8

OVIRT_BANDWIDTH_MIBPS = 52
KUBEVIRT_MAX_PER_CLUSTER = 5

OVIRT_DEFAULT = MigrationPolicy(
    bandwidth_mode=BandwidthMode.CUSTOM,
    custom_mibps=OVIRT_BANDWIDTH_MIBPS,
    max_outgoing_per_host=2,
    max_incoming_per_host=2,
    no_progress_timeout_s=240,
    completion_timeout_s_per_gib=64,
)
KUBEVIRT_DEFAULT = MigrationPolicy(
    bandwidth_mode=BandwidthMode.HYPERVISOR_DEFAULT,
    max_outgoing_per_host=2,
    max_incoming_per_host=KUBEVIRT_MAX_PER_CLUSTER,
    max_concurrent_per_cluster=KUBEVIRT_MAX_PER_CLUSTER,
    no_progress_timeout_s=150,
    completion_timeout_s_per_gib=150,
)
# Miglane as it ships: the engine's defaults.
MIGLANE_DEFAULT = MigrationPolicy()


@dataclass(frozen=True)
class StormVm:
    name: str
    memory_mib: int
    # How fast the guest dirties memory, all of which it keeps rewriting.
    dirty_mibps: int

    @property
    def load(self) -> MigrationLoad:
        return MigrationLoad(
            memory_bytes=self.memory_mib * MIB, dirty_rate_bps=self.dirty_mibps * MIB
        )


def storm_workload(count: int = STORM_VMS, seed: int = STORM_SEED) -> tuple[StormVm, ...]:
    """`count` VMs named vm00, vm01, … of whole GiB between MEMORY_GIB and whole MiB/s between
    DIRTY_MIBPS (bounds included), drawn uniformly from `seed`: the same VMs every run."""
    rng = random.Random(seed)
    width = len(str(count - 1))
    return tuple(
        StormVm(
            f"vm{index:0{width}d}",
            rng.randint(*MEMORY_GIB) * 1024,
            rng.randint(*DIRTY_MIBPS),
        )
        for index in range(count)
    )


def lower_bound_s(vms: Sequence[StormVm], capacity_bps: float = LINK_BPS) -> float:
    """Seconds the source's link needs at least: the data that must cross it ÷ its capacity.
    Each VM sends at least what the model says it sends with the whole link to itself (less
    bandwidth only means more dirtied pages to resend)."""
    return sum(predict(vm.load, capacity_bps).data_sent_bytes for vm in vms) / capacity_bps


def could_not_converge(vm: StormVm, rate_bps: float) -> bool:
    """Whether plain pre-copy of `vm` at `rate_bps` never converges (the model's verdict)."""
    return predict(vm.load, rate_bps).verdict is ConvergenceVerdict.NEVER_CONVERGES


@dataclass(frozen=True)
class StartedMigration:
    """One migration job the fabric ran, in simulated seconds."""

    vm: StormVm
    started_s: float
    ended_s: float
    # What the fabric gave it when it started (its cap, or its fair share of the links).
    rate_bps: float
    completed: bool


@dataclass(frozen=True)
class StormOutcome:
    """What one evacuation did: every job the fabric ran, when the evacuation began, and the
    VMs still on the source when it was over."""

    began_s: float
    jobs: tuple[StartedMigration, ...]
    left_on_source: int

    @property
    def makespan_s(self) -> float:
        """From the evacuation's start to the end of its last job."""
        return max((job.ended_s for job in self.jobs), default=self.began_s) - self.began_s

    @property
    def not_converging(self) -> list[StartedMigration]:
        """Jobs started at a rate at which the model says they could not converge."""
        return [job for job in self.jobs if could_not_converge(job.vm, job.rate_bps)]

    def fabric_agreement(self) -> tuple[int, int]:
        """(jobs whose outcome on the fabric matches the model's verdict at their start rate,
        all jobs): completed when it converges, aborted when it does not."""
        agree = sum(
            1 for job in self.jobs if job.completed != could_not_converge(job.vm, job.rate_bps)
        )
        return agree, len(self.jobs)


def fake_shared_link_seconds(
    memory_mib: Sequence[int], link_mbps: int, *, speed: float = 50.0
) -> list[float]:
    """Simulated seconds each of `memory_mib`'s idle guests takes to migrate uncapped from one
    fake host to a host of its own, all at once, the source's link at `link_mbps`: what the
    fake fabric says of the workload the lab checks it against."""
    fabric = FakeFabric(FakeClock(speed))

    def nic(index: int, mbps: int) -> Nic:
        return Nic(
            "mig0", f"52:54:00:02:00:{index:02x}", (f"10.9.0.{index + 1}/24",), True, mbps, 1500
        )

    source = fabric.add_host("source", nics=(nic(0, link_mbps),))
    destinations = [
        fabric.add_host(f"dest{i}", nics=(nic(i + 1, 0),)) for i in range(len(memory_mib))
    ]
    vm_ids = [source.add_domain(f"g{i}", memory_mib=mib) for i, mib in enumerate(memory_mib)]
    driver = FakeDriver(source)

    def migrate(vm_id: str, destination: FakeHost) -> None:
        address = destination.nics[0].addresses[0].split("/")[0]
        driver.migrate(vm_id, MigrationParams(destination.peer_uri, f"tcp://{address}"))

    threads = [
        threading.Thread(target=migrate, args=pair)
        for pair in zip(vm_ids, destinations, strict=True)
    ]
    # Time stands (almost) still until every job is on the wire: they start together.
    fabric.clock.set_speed(1e-6)
    for thread in threads:
        thread.start()
    while len(driver.outgoing_jobs()) < len(threads):
        time.sleep(0.001)
    fabric.clock.set_speed(speed)
    for thread in threads:
        thread.join()
    seconds = []
    for vm_id in vm_ids:
        stats = driver.completed_job_stats(vm_id)
        if stats is None:
            destination = next(d for d in destinations if vm_id in d.domains)
            stats = destination.completed[vm_id]
        seconds.append(stats.elapsed_ms / 1000)
    return seconds


def fabric_errors(
    real_s: Sequence[float], memory_mib: Sequence[int], link_mbps: int
) -> tuple[list[float], list[float]]:
    """The fake fabric's seconds for the migrations `real_s` timed on the wire (idle guests of
    `memory_mib`, all at once over one `link_mbps` link), with the fixed costs the fabric does
    not simulate (the model's SETUP_S and SWITCH_OVER_S), and each |fake - real| / real."""
    fake = [
        seconds + SETUP_S + SWITCH_OVER_S
        for seconds in fake_shared_link_seconds(memory_mib, link_mbps)
    ]
    return fake, [abs(f - r) / r for f, r in zip(fake, real_s, strict=True)]
