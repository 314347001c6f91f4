"""Admission follows an evacuation's plan: planned migrations in rank order after the others
(FIFO), each to its planned destination while that still passes every filter."""

from __future__ import annotations

from dataclasses import replace

import pytest

from miglane.engine.domain import migration_messages as say
from miglane.engine.domain.admission import AdmissionVerdict, admit_queued, in_start_order
from miglane.engine.domain.model import HostStatus, HostView, Migration, MigrationPhase

from .builders import T0, host, migration, networks, vm


def planned(ident: str, rank: int, to: str = "", *, seconds: int = 0) -> Migration:
    made = migration(ident, vm(ident), seconds=seconds)
    return replace(made, plan_rank=rank, planned_destination_host_id=to, evacuation_host_id="h1")


def test_planned_migrations_go_in_rank_order_after_the_others() -> None:
    queued = [
        planned("p3", 3),
        migration("manual1", vm("manual1"), to=2),
        planned("p1", 1),
        migration("manual2", vm("manual2"), to=3),
        planned("p2", 2),
    ]
    assert [m.id for m in in_start_order(queued)] == ["manual1", "manual2", "p1", "p2", "p3"]


@pytest.mark.parametrize(
    ("hosts", "holders", "chosen"),
    [
        pytest.param(
            [host(1), host(2, free_mib=128 * 1024), host(3)],
            [],
            "h3",
            id="planned host suitable: taken, though the scheduler prefers host2",
        ),
        pytest.param(
            [host(1), host(2), host(3, status=HostStatus.UNREACHABLE)],
            [],
            "h2",
            id="planned host down: the scheduler's choice",
        ),
        pytest.param(
            [host(1), host(2), host(3)],
            [
                migration(f"in{i}", vm(f"x{i}", on=4), to=3, phase=MigrationPhase.RUNNING)
                for i in range(2)
            ],
            "h2",
            id="planned host at its incoming limit: the scheduler's choice",
        ),
    ],
)
def test_the_planned_destination_is_taken_while_it_passes_every_filter(
    hosts: list[HostView], holders: list[Migration], chosen: str
) -> None:
    the_vm = vm("p")
    queued = replace(migration("p", the_vm), plan_rank=1, planned_destination_host_id="h3")
    vms = {the_vm.id: the_vm, **{h.vm_id: vm(h.vm_name, on=4) for h in holders}}
    [admission] = admit_queued([queued], holders, hosts, vms, networks(), now=T0)
    assert admission.verdict is AdmissionVerdict.START
    assert admission.destination_host_id == chosen


def test_the_plans_migrations_at_once_hold_the_next_back() -> None:
    running, waiting = vm("running"), vm("waiting")
    holder = migration("r", running, to=2, phase=MigrationPhase.RUNNING)
    queued = replace(migration("w", waiting), plan_rank=1, planned_outgoing=1)
    vms = {running.id: running, waiting.id: waiting}
    hosts = [host(1), host(2), host(3)]
    [held] = admit_queued([queued], [holder], hosts, vms, networks(), now=T0)
    assert held.verdict is AdmissionVerdict.WAIT
    assert held.reason == say.plan_outgoing("host1", 1, 1)
    [free] = admit_queued(
        [replace(queued, planned_outgoing=2)], [holder], hosts, vms, networks(), now=T0
    )
    assert free.verdict is AdmissionVerdict.START
