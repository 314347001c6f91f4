"""The lab half of bench_storm: a host of a real 3-host lab (libvirt, QEMU under TCG, links shaped
by tc) evacuated through an in-process engine over the lab's real agents, twice.

- With the migration role (migration links shaped at MIG_MBIT, the network's QoS saying so): each
  migration's duration as the engine predicted it when it admitted it (`predicted_finish_at`
  then) against the agent's measured one (`finished_at - started_at`): the median of
  |predicted - actual| / actual.
- The management link's use, bytes through the source's `mgmt0` (both ways) ÷ (its shaped
  capacity MGMT_MBIT x the time), during that evacuation and during one of fresh guests with the
  role taken away (data falls back to management, within the cluster's management budget).
  The second is bounded to FALLBACK_WINDOW_S (its guests crawl at the budget), then cancelled.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from miglane.engine.app import Engine
from miglane.engine.domain.errors import FailedPrecondition
from miglane.engine.domain.model import (
    ClusterSpec,
    HostSpec,
    HostStatus,
    Migration,
    MigrationPhase,
    NetworkRole,
    NetworkSpec,
)
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


TRACE: dict[str, list[tuple[datetime, Migration]]] = {}


def _record_admissions(engine: Engine) -> dict[str, float]:
    """Each migration's predicted duration when it was admitted (its first PREPARING snapshot
    with a prediction), by id, filled as the engine publishes."""
    predicted: dict[str, float] = {}
    publish = engine.hub.publish

    def stamped(batch: object) -> None:
        items: list[Migration] = list(batch)  # type: ignore[call-overload]
        now = datetime.now(UTC)
        for m in items:
            TRACE.setdefault(m.id, []).append((now, m))
            if (
                m.phase is MigrationPhase.PREPARING
                and m.predicted_finish_at is not None
                and m.id not in predicted
            ):
                predicted[m.id] = (m.predicted_finish_at - now).total_seconds()
        publish(items)

    engine.hub.publish = stamped  # type: ignore[method-assign]
    return predicted


def _print_trace(ids: list[str], t0: datetime) -> None:
    def rel(t: datetime | None) -> float:
        return (t - t0).total_seconds() if t else math.nan

    for mid in ids:
        snaps = TRACE.get(mid, [])
        last = snaps[-1][1] if snaps else None
        if last is None or last.started_at is None:
            continue
        admitted = next(((at, m) for at, m in snaps if m.phase is MigrationPhase.PREPARING), None)
        moving = [(at, m) for at, m in snaps if m.data_processed_bytes > 0]
        if admitted is None or not moving:
            continue
        first_data = rel(moving[0][0])
        done = next(
            (rel(at) for at, m in moving if m.data_remaining_bytes == 0), rel(moving[-1][0])
        )
        caps = sorted({m.max_bandwidth_mibps for _, m in snaps if m.max_bandwidth_mibps})
        rate = last.data_processed_bytes / 2**20 / max(done - first_data, 1e-3)
        pred = rel(admitted[1].predicted_finish_at) - rel(admitted[0])
        print(
            f"  {last.vm_name}: admitted {rel(admitted[0]):.2f} start {rel(last.started_at):.2f} "
            f"data {first_data:.2f}..{done:.2f} end {rel(last.finished_at):.2f} | setup "
            f"{first_data - rel(last.started_at):.2f} transfer {done - first_data:.2f} tail "
            f"{rel(last.finished_at) - done:.2f} | {last.data_processed_bytes / 2**20:.0f} MiB "
            f"at {rate:.1f} MiB/s caps {caps} | predicted {pred:.2f} "
            f"({admitted[1].verdict_reason[:60]}), planned "
            f"{rel(admitted[1].planned_finish_at) - rel(admitted[0]):.2f}"
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


async def _evacuate(
    lab: Lab, engine: Engine, source_id: str, predicted: dict[str, float], window_s: float
) -> Evacuation:
    before, began = _mgmt_bytes(lab), time.monotonic()
    began_at = datetime.now(UTC)
    for vm in (await engine.inventory.vms.list_vms(host_id=source_id, page_size=1000)).items:
        print(f"  vm {vm.name}: {vm.memory_mib} MiB, dirty {vm.dirty_rate}")
    result = await engine.migrations.set_host_maintenance(source_id, True)
    ids = [m.id for m in result.migrations]
    deadline = began + window_s
    while any(engine.ledger.active(i) for i in ids) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    seconds, used = time.monotonic() - began, _mgmt_bytes(lab) - before
    for migration_id in ids:
        if engine.ledger.active(migration_id) is not None:
            # It may end on its own meanwhile (the agent then refuses: nothing runs).
            with contextlib.suppress(FailedPrecondition):
                await engine.migrations.cancel(migration_id)
    await engine.migrations.set_host_maintenance(source_id, False)
    durations = []
    _print_trace(ids, began_at)
    for migration_id in ids:
        m = await engine.ledger.get(migration_id)
        if m.phase is MigrationPhase.COMPLETED and m.started_at and m.finished_at:
            actual = (m.finished_at - m.started_at).total_seconds()
            if migration_id in predicted:
                durations.append((predicted[migration_id], actual))
    return Evacuation(seconds, used, durations)


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
        predicted = _record_admissions(engine)

        names = await _guests(lab, "storm-a")
        await _known(engine, cluster.id, names, time.time())
        await _wait_up(engine, cluster.id)
        with_role = await _evacuate(lab, engine, host_ids[SOURCE], predicted, RUN_TIMEOUT_S)

        await inventory.networks.unset_network_role(migration.id, NetworkRole.MIGRATION)
        fresh = await _guests(lab, "storm-b")
        await _known(engine, cluster.id, fresh, time.time())
        await _wait_up(engine, cluster.id)
        without = await _evacuate(lab, engine, host_ids[SOURCE], predicted, FALLBACK_WINDOW_S)
    finally:
        await engine.stop(0.5)
    return _lines(with_role, without)


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
