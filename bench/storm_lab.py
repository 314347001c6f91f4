"""The lab half of bench_storm: a host of a real 3-host lab (libvirt, QEMU under TCG, links shaped
by tc) evacuated through an in-process engine over the lab's real agents, twice.

- With the migration role (migration links shaped at MIG_MBIT, the network's QoS saying so): each
  migration's duration as the engine predicted it when it admitted it (`predicted_finish_at`
  then) against the agent's measured one (`finished_at - started_at`): the median of
  |predicted - actual| / actual. Each migration is printed in parts (`Admissions`), so that a
  wrong term shows: the fixed costs before and after its data, its rate, its caps.
  The guests' dirty rates are those measured once all of them run (not the boot's memory fill).
- The management link's use, bytes through the source's `mgmt0` (both ways) ÷ (its shaped
  capacity MGMT_MBIT x the time), during that evacuation and during one of fresh guests with the
  role taken away (data falls back to management, within the cluster's management budget).
  The second is bounded to FALLBACK_WINDOW_S (its guests crawl at the budget), then cancelled.

Before the evacuation, its guests already running, the engine completes migrations of other
guests (WARMUP_GUESTS_MIB; printed, not counted): an engine in service has a history, made on
its hosts as loaded as they are, to learn its path's fixed cost from (`domain.path_cost`, read
back from its store when it restarts); a fresh one predicts with the calibrated constants until
MIN_OBSERVATIONS migrations have completed.

Runs in a lab slot of its own (claimed like the test sessions'), taken down at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from miglane.engine.app import Engine
from miglane.engine.domain.errors import FailedPrecondition
from miglane.engine.domain.model import (
    MIB,
    ClusterSpec,
    HostSpec,
    HostStatus,
    Migration,
    MigrationPhase,
    NetworkRole,
    NetworkSpec,
)
from miglane.engine.domain.path_cost import MIN_OBSERVATIONS, observed_fixed_s
from miglane.engine.domain.prediction import DEFAULT_FIXED_S
from miglane.lab import Lab, Network
from miglane.testing.engine_stack import start_engine
from miglane.testing.lab_slots import claim_lab_slot
from miglane.testing.shared_link_lab import real_shared_link_seconds
from miglane.testing.storm import fabric_errors

LAB_BASE_PREFIX = "/tmp/miglane-bench-lab-"
AGENT_PORT = 50061
MIG_MBIT = 400
MGMT_MBIT = 1000
SOURCE = "host1"
# (memory MiB, working set the guest keeps rewriting MiB): sizes and dirty sets that differ.
GUESTS = ((256, 0), (224, 2), (192, 0), (160, 4), (128, 1))
FALLBACK_WINDOW_S = 20.0
# Idle guests migrated off SOURCE before the evacuation, as many at once as it starts.
WARMUP_GUESTS_MIB = (128, 128, 128)
WARMUP_AT_ONCE = 2
# Idle guests migrating at once from SOURCE for the fabric's check.
SHARED_GUESTS_MIB = (128, 192)
RUN_TIMEOUT_S = 180.0
PREDICTION_ERROR_TARGET = 0.10


@dataclass
class Evacuation:
    seconds: float
    mgmt_bytes: int
    # Per migration: (predicted s at admission, actual s).
    durations: list[tuple[float, float]]
    ids: list[str] = field(default_factory=list)
    began_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Admissions:
    """What the engine published of each migration, as it published it: each migration's
    predicted duration when it was admitted (its first PREPARING snapshot with a prediction),
    and every snapshot with the time it was seen (for `print_decomposition`)."""

    predicted: dict[str, float] = field(default_factory=dict)
    snapshots: dict[str, list[tuple[datetime, Migration]]] = field(default_factory=dict)

    def record(self, engine: Engine) -> None:
        publish = engine.hub.publish

        def stamped(batch: Iterable[Migration]) -> None:
            items = list(batch)
            now = datetime.now(UTC)
            for m in items:
                self.snapshots.setdefault(m.id, []).append((now, m))
                if (
                    m.phase is MigrationPhase.PREPARING
                    and m.predicted_finish_at is not None
                    and m.id not in self.predicted
                ):
                    self.predicted[m.id] = (m.predicted_finish_at - now).total_seconds()
            publish(items)

        engine.hub.publish = stamped  # type: ignore[method-assign,assignment]

    def print_decomposition(self, ids: list[str], t0: datetime) -> None:
        """Each completed migration of `ids` in parts, seconds from `t0`, from its snapshots:
        admitted, the agent's start, first and last data seen, the end; the fixed costs before
        and after the data, the rate, the caps it had, and its prediction at admission (and the
        plan's) against its actual duration."""
        for migration_id in ids:
            line = self._decomposed(self.snapshots.get(migration_id, []), t0)
            if line:
                print(line)

    @staticmethod
    def _decomposed(snapshots: list[tuple[datetime, Migration]], t0: datetime) -> str:
        def at(moment: datetime | None) -> float:
            return (moment - t0).total_seconds() if moment else math.nan

        last = snapshots[-1][1] if snapshots else None
        admitted = next(((a, m) for a, m in snapshots if m.phase is MigrationPhase.PREPARING), None)
        moving = [(a, m) for a, m in snapshots if m.data_processed_bytes > 0]
        if last is None or last.finished_at is None or admitted is None or not moving:
            return ""
        start, end, first = at(last.started_at), at(last.finished_at), at(moving[0][0])
        done = next((at(a) for a, m in moving if m.data_remaining_bytes == 0), at(moving[-1][0]))
        sent_mib = last.data_processed_bytes / MIB
        caps = sorted({m.max_bandwidth_mibps for _, m in snapshots if m.max_bandwidth_mibps})
        seen, record = admitted
        return (
            f"  {last.vm_name}: admitted {at(seen):.2f} s, agent {start:.2f}..{end:.2f}, data "
            f"{first:.2f}..{done:.2f} | before data {first - start:.2f} s, after {end - done:.2f} "
            f"s | {sent_mib:.0f} MiB at {sent_mib / max(done - first, 1e-3):.1f} MiB/s, caps "
            f"{caps} MiB/s | predicted {at(record.predicted_finish_at) - at(seen):.2f} s (plan "
            f"{at(record.planned_finish_at) - at(seen):.2f}), actual {end - start:.2f} s: "
            f"{record.verdict_reason}"
        )


def _mgmt_bytes(lab: Lab) -> int:
    counters = lab.nic_counters(SOURCE, Network.MGMT)
    return counters.rx_bytes + counters.tx_bytes


async def _guests(lab: Lab, prefix: str) -> list[str]:
    names = []
    for index, (memory_mib, dirty_mib) in enumerate(GUESTS):
        name = f"{prefix}{index}"
        await asyncio.to_thread(lab.create_vm, SOURCE, name, memory_mib, dirty_mib)
        names.append(name)
    return names


async def _known(engine: Engine, cluster_id: str, names: list[str], ready_at: float) -> None:
    """Until the engine knows the guests on the source with a dirty rate measured once all of
    them were ready (`ready_at`, epoch seconds): a guest fills its memory as it boots, and a
    rate measured then is that fill, not the working set it keeps rewriting."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        vms = (await engine.inventory.vms.list_vms(cluster_id, page_size=1000)).items
        ours = [vm for vm in vms if vm.name in names]
        if len(ours) == len(names) and all(
            vm.dirty_rate and vm.dirty_rate.measured_at >= ready_at for vm in ours
        ):
            return
        await asyncio.sleep(0.2)


async def _while_active(engine: Engine, ids: list[str], deadline: float) -> None:
    """Waits until none of `ids` is active any more, or the monotonic clock reaches `deadline`."""
    while any(engine.ledger.active(i) for i in ids) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def _evacuate(
    lab: Lab, engine: Engine, source_id: str, admissions: Admissions, window_s: float
) -> Evacuation:
    before, began = _mgmt_bytes(lab), time.monotonic()
    began_at = datetime.now(UTC)
    result = await engine.migrations.set_host_maintenance(source_id, True)
    ids = [m.id for m in result.migrations]
    await _while_active(engine, ids, began + window_s)
    seconds, used = time.monotonic() - began, _mgmt_bytes(lab) - before
    for migration_id in ids:
        if engine.ledger.active(migration_id) is not None:
            # It may end on its own meanwhile (the agent then refuses: nothing runs).
            with contextlib.suppress(FailedPrecondition):
                await engine.migrations.cancel(migration_id)
    await engine.migrations.set_host_maintenance(source_id, False)
    durations = []
    for migration_id in ids:
        m = await engine.ledger.get(migration_id)
        if m.phase is MigrationPhase.COMPLETED and m.started_at and m.finished_at:
            actual = (m.finished_at - m.started_at).total_seconds()
            if migration_id in admissions.predicted:
                durations.append((admissions.predicted[migration_id], actual))
    return Evacuation(seconds, used, durations, ids, began_at)


async def _measure(lab: Lab, tmp: Path) -> list[str]:
    engine = await start_engine(tmp / "engine", poll_interval_s=0.3, pki_dir=lab.pki_dir)
    try:
        status = lab.status()
        inventory = engine.inventory
        cluster = await inventory.clusters.create_cluster(ClusterSpec(name="storm"))
        await inventory.networks.create_network(
            NetworkSpec(
                cluster_id=cluster.id,
                name="mgmt",
                subnet=status.mgmt_subnet,
                required=True,
                roles=(NetworkRole.MANAGEMENT,),
                qos_mbps=MGMT_MBIT,
            )
        )
        migration = await inventory.networks.create_network(
            NetworkSpec(
                cluster_id=cluster.id,
                name="migration",
                subnet=status.mig_subnet,
                roles=(NetworkRole.MIGRATION,),
                qos_mbps=MIG_MBIT,
            )
        )
        host_ids = {}
        for host in status.hosts:
            assert host.agent_addr
            view = await engine.migrations.add_host(
                HostSpec(cluster_id=cluster.id, name=host.name, agent_address=host.agent_addr)
            )
            host_ids[host.name] = view.host.id
        admissions = Admissions()
        admissions.record(engine)

        names = await _guests(lab, "storm-a")
        await _known(engine, cluster.id, names, time.time())
        await _warm_up(lab, engine, cluster.id)
        await _wait_up(engine, cluster.id)
        with_role = await _evacuate(lab, engine, host_ids[SOURCE], admissions, RUN_TIMEOUT_S)
        admissions.print_decomposition(with_role.ids, with_role.began_at)
        await _print_path_costs(engine, with_role.ids)

        await inventory.networks.unset_network_role(migration.id, NetworkRole.MIGRATION)
        fresh = await _guests(lab, "storm-b")
        await _known(engine, cluster.id, fresh, time.time())
        await _wait_up(engine, cluster.id)
        without = await _evacuate(lab, engine, host_ids[SOURCE], admissions, FALLBACK_WINDOW_S)
    finally:
        await engine.stop(0.5)
    return _lines(with_role, without)


async def _warm_up(lab: Lab, engine: Engine, cluster_id: str) -> None:
    """WARMUP_GUESTS_MIB's guests migrated off SOURCE, WARMUP_AT_ONCE at a time, then destroyed:
    the engine's history before the evacuation (not counted), made while the evacuation's
    guests run (the path's cost follows the machine's load)."""
    names = [f"storm-w{i}" for i in range(len(WARMUP_GUESTS_MIB))]
    for name, mib in zip(names, WARMUP_GUESTS_MIB, strict=True):
        await asyncio.to_thread(lab.create_vm, SOURCE, name, mib)
    await _known(engine, cluster_id, names, time.time())
    vms = (await engine.inventory.vms.list_vms(cluster_id, page_size=1000)).items
    vm_ids = [vm.id for vm in vms if vm.name in names]
    ids = []
    for first in range(0, len(vm_ids), WARMUP_AT_ONCE):
        started = [
            await engine.migrations.migrate_vm(vm_id)
            for vm_id in vm_ids[first : first + WARMUP_AT_ONCE]
        ]
        ids += [m.id for m in started]
        await _while_active(engine, [m.id for m in started], time.monotonic() + RUN_TIMEOUT_S)
    ended = [await engine.ledger.get(i) for i in ids]
    done = sum(m.phase is MigrationPhase.COMPLETED for m in ended)
    for vm in await asyncio.to_thread(lab.list_vms):
        if vm.name in names:
            await asyncio.to_thread(lab.destroy_vm, vm.host, vm.name)
    print(
        f"  warm-up, not counted: {done} of {len(ids)} migrations of idle "
        f"{WARMUP_GUESTS_MIB[0]} MiB guests completed beside the evacuation's guests before it "
        f"(an engine in service has a history); the engine's path's fixed cost then "
        f"{engine.path_costs.fixed_s:.2f} s (a fresh engine: {DEFAULT_FIXED_S:.2f} s until "
        f"{MIN_OBSERVATIONS} have completed)",
        flush=True,
    )


async def _print_path_costs(engine: Engine, ids: list[str]) -> None:
    """What the engine learned of its path's fixed cost from the evacuation's migrations
    (`domain.path_cost`): each one's observation, the value it predicts with now."""
    observed = [observed_fixed_s(await engine.ledger.get(i)) for i in ids]
    shown = ", ".join("-" if o is None else f"{o:.2f}" for o in observed)
    print(
        f"  engine path's fixed cost observed per migration: {shown} s; learned now "
        f"{engine.path_costs.fixed_s:.2f} s (before {MIN_OBSERVATIONS} observations: "
        f"{DEFAULT_FIXED_S:.2f} s)"
    )


async def _wait_up(engine: Engine, cluster_id: str) -> None:
    """Until every host is UP again (the source back from maintenance)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        hosts = (await engine.inventory.hosts.list_hosts(cluster_id, page_size=100)).items
        if all(view.host.status is HostStatus.UP for view in hosts):
            return
        await asyncio.sleep(0.1)


def _utilisation(run: Evacuation) -> float:
    return run.mgmt_bytes / (MGMT_MBIT * 1_000_000 / 8 * run.seconds)


def _lines(with_role: Evacuation, without: Evacuation) -> list[str]:
    errors = [abs(p - a) / a for p, a in with_role.durations]
    for p, a in with_role.durations:
        print(f"  lab migration: predicted {p:.2f} s, actual {a:.2f} s")
    print(
        f"  lab: {len(GUESTS)} guests evacuated in {with_role.seconds:.1f} s over "
        f"{MIG_MBIT} Mbit/s migration links ({len(with_role.durations)} completed with a "
        f"prediction at admission); without the role {len(without.durations)} "
        f"completed in the {without.seconds:.1f} s window (management {MGMT_MBIT} Mbit/s)"
    )
    median = f"{statistics.median(errors):.0%}" if errors else "n/a (no migration completed)"
    if errors:
        met = "met" if statistics.median(errors) <= PREDICTION_ERROR_TARGET else "NOT met"
        print(f"  target: lab prediction error <= {PREDICTION_ERROR_TARGET:.0%}: {met}")
    return [
        f"prediction error on the lab, median |predicted - actual| / actual: {median}",
        f"management link during evacuation with the migration role: "
        f"{_utilisation(with_role) * 100:.1f}% used (without the role: "
        f"{_utilisation(without) * 100:.1f}%)",
    ]


def fabric_against_wire(lab: Lab) -> str:
    """The fake fabric's time for SHARED guests migrating at once over the shaped link, against
    real libvirt's (`tests/engine/test_fabric_lab.py` asserts the same)."""
    names = [f"storm-shared{i}" for i in range(len(SHARED_GUESTS_MIB))]
    for name, mib in zip(names, SHARED_GUESTS_MIB, strict=True):
        lab.create_vm(SOURCE, name, mib)
    real = real_shared_link_seconds(lab, SOURCE, names, ("host2", "host3"))
    fake, errors = fabric_errors(real, SHARED_GUESTS_MIB, MIG_MBIT)
    for vm in lab.list_vms():
        if vm.name in names:
            lab.destroy_vm(vm.host, vm.name)
    return (
        f"  fake fabric vs real libvirt, {len(names)} migrations sharing a {MIG_MBIT} Mbit/s "
        f"link: real {', '.join(f'{r:.2f}' for r in real)} s, fake "
        f"{', '.join(f'{f:.2f}' for f in fake)} s, error {', '.join(f'{e:.0%}' for e in errors)}"
    )


def lab_lines() -> list[str]:
    """The two lab lines of bench_storm (root, libvirt)."""
    with claim_lab_slot(LAB_BASE_PREFIX) as (slot, base):
        lab = Lab(base, slot=slot)
        tmp = Path(tempfile.mkdtemp(prefix="miglane-bench-storm-lab-"))
        try:
            lab.up(hosts=3)
            lab.start_agents(AGENT_PORT)
            lab.set_rate(Network.MIG, MIG_MBIT)
            lab.set_rate(Network.MGMT, MGMT_MBIT)
            print(fabric_against_wire(lab), flush=True)
            return asyncio.run(_measure(lab, tmp))
        finally:
            lab.down()
            shutil.rmtree(tmp, ignore_errors=True)
