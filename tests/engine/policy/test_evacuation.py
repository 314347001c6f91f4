"""Host maintenance: the evacuation plan, reruns on other hosts (3 at most), and when it is
done — a VM nothing can take is reported, never looped on."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from miglane.engine.domain.admission import AdmissionVerdict, admit_queued
from miglane.engine.domain.evacuation import (
    EvacuationState,
    MigrationFailureKind,
    decide_rerun,
    evacuation_state,
    plan_evacuation,
)
from miglane.engine.domain.forecast import share_mibps
from miglane.engine.domain.migration_path import choose_migration_uri
from miglane.engine.domain.model import (
    HostStatus,
    HostView,
    Migration,
    MigrationPhase,
    MigrationPolicy,
    Vm,
    VmState,
)
from miglane.engine.domain.placement import HostLoad, assess_destinations, describe_rejections

from .builders import host, migration, networks, random_host, vm, without_migration

GIB = 1024


def test_plan_places_largest_first_within_free_memory() -> None:
    source = host(1)
    hosts = [source, host(2, free_mib=10 * GIB), host(3, free_mib=8 * GIB)]
    vms = [vm(n, memory_mib=m * GIB) for n, m in (("a", 2), ("b", 8), ("c", 4), ("d", 4))]
    plan = plan_evacuation(source, vms, hosts, networks())
    assert [p.vm.name for p in plan.planned] == ["b", "c", "d", "a"]
    used = Counter[str]()
    for planned in plan.planned:
        used[planned.destination_host_id] += planned.vm.memory_mib
    assert used == {"h2": 10 * GIB, "h3": 8 * GIB}  # a perfect fit, largest first
    assert plan.unplaced == ()
    assert plan.host_id == "h1"


def test_plan_spreads_over_equal_hosts() -> None:
    source = host(1)
    hosts = [source, *(host(i) for i in range(2, 6))]
    vms = [vm(f"v{i}", memory_mib=GIB) for i in range(8)]
    plan = plan_evacuation(source, vms, hosts, networks())
    assert Counter(p.destination_host_id for p in plan.planned) == {
        "h2": 2,
        "h3": 2,
        "h4": 2,
        "h5": 2,
    }


def test_plan_reports_what_nothing_can_take_with_reasons() -> None:
    source = host(1)
    hosts = [
        source,
        host(2, free_mib=6 * GIB),
        host(3, status=HostStatus.UNREACHABLE, free_mib=100 * GIB),
        without_migration(host(4, free_mib=100 * GIB)),
    ]
    vms = [
        vm("huge", memory_mib=64 * GIB),
        vm("a", memory_mib=4 * GIB),
        vm("b", memory_mib=4 * GIB),
    ]
    plan = plan_evacuation(source, vms, hosts, networks())
    assert [p.vm.name for p in plan.planned] == ["a"]
    unplaced = {u.vm_name: u.reason for u in plan.unplaced}
    assert set(unplaced) == {"huge", "b"}
    assert unplaced["huge"].startswith("no host can take VM 'huge' (65536 MiB): host1: the VM")
    assert "host2: 2048 MiB free (4096 MiB of 6144 promised" in unplaced["huge"]
    assert "host3: status unreachable" in unplaced["huge"]
    assert "host4: destination host 'host4' has no NIC on migration network" in unplaced["huge"]
    # b does not fit once a has been promised host2's memory, and the reason says so.
    assert (
        "host2: 2048 MiB free (4096 MiB of 6144 promised to incoming migrations)" in unplaced["b"]
    )


def test_plan_counts_memory_promised_to_running_incoming_migrations() -> None:
    source = host(1)
    hosts = [source, host(2, free_mib=8 * GIB)]
    plan = plan_evacuation(
        source,
        [vm("a", memory_mib=6 * GIB)],
        hosts,
        networks(),
        loads={"h2": HostLoad(1, 4 * GIB)},
    )
    assert plan.planned == () and [u.vm_name for u in plan.unplaced] == ["a"]


def test_plan_ignores_incoming_limits_the_queue_keeps_them() -> None:
    source = host(1)
    plan = plan_evacuation(source, [vm("a")], [source, host(2, incoming=2)], networks())
    assert [p.destination_host_id for p in plan.planned] == ["h2"]


def test_plan_sorts_out_vms_that_need_no_migration() -> None:
    source = host(1)
    vms = [
        vm("running"),
        vm("paused", state=VmState.PAUSED),
        vm("off", state=VmState.SHUT_OFF),
        vm("crashed", state=VmState.CRASHED),
        vm("moving", state=VmState.MIGRATING, migration_id="m9"),
    ]
    plan = plan_evacuation(source, vms, [source, host(2)], networks())
    assert sorted(p.vm.name for p in plan.planned) == ["paused", "running"]
    assert [v.name for v in plan.already_migrating] == ["moving"]
    assert sorted(v.name for v in plan.not_running) == ["crashed", "off"]


def test_plan_without_migration_network_uses_every_up_host() -> None:
    source = without_migration(host(1))
    hosts = [source, without_migration(host(2))]
    plan = plan_evacuation(source, [vm("a")], hosts, networks(migration=False))
    assert [p.destination_host_id for p in plan.planned] == ["h2"]


# ---------------------------------------------------------------- reruns

K = MigrationFailureKind


def failed(*, automatic: bool = True, to: int = 2, tried: tuple[str, ...] = ()) -> Migration:
    return replace(
        migration(
            "m", vm("web1"), to=to, automatic=automatic, tried=tried, phase=MigrationPhase.FAILED
        )
    )


NAMES = {f"h{i}": f"host{i}" for i in range(1, 9)}


@pytest.mark.parametrize(
    ("failure", "the_migration", "rerun", "tried", "phrase"),
    [
        pytest.param(
            K.DESTINATION,
            failed(),
            True,
            ("h2",),
            "failed on host2; rerunning on another host (attempt 2 of 3)",
            id="first failure",
        ),
        pytest.param(
            K.NETWORK,
            failed(to=3, tried=("h2",)),
            True,
            ("h2", "h3"),
            "attempt 3 of 3",
            id="second failure",
        ),
        pytest.param(
            K.OTHER,
            failed(to=4, tried=("h2", "h3")),
            False,
            ("h2", "h3", "h4"),
            "failed on 3 hosts (host2, host3, host4); giving up after 3",
            id="third failure: give up",
        ),
        pytest.param(
            K.NOT_CONVERGING,
            failed(),
            True,
            ("h2",),
            "rerunning",
            id="not converging: another link may do",
        ),
        pytest.param(K.UNSPECIFIED, failed(), True, ("h2",), "rerunning", id="unknown kind"),
        pytest.param(K.CANCELLED, failed(), False, ("h2",), "was cancelled", id="cancelled"),
        pytest.param(
            K.DESTINATION,
            failed(automatic=False),
            False,
            ("h2",),
            "it was a manual migration",
            id="manual",
        ),
        pytest.param(
            K.DESTINATION,
            failed(to=2, tried=("h2",)),
            True,
            ("h2",),
            "attempt 2 of 3",
            id="the same host counts once",
        ),
    ],
)
def test_decide_rerun(
    failure: MigrationFailureKind,
    the_migration: Migration,
    rerun: bool,
    tried: tuple[str, ...],
    phrase: str,
) -> None:
    decision = decide_rerun(the_migration, failure, host_names=NAMES)
    assert decision.rerun is rerun
    assert decision.tried_host_ids == tried
    assert phrase in decision.reason
    assert "VM 'web1'" in decision.reason


def test_failure_kind_numbers_match_the_contract() -> None:
    from miglane.v1 import agent_pb2

    for kind in MigrationFailureKind:
        assert agent_pb2.MigrationFailureKind.Value(f"MIGRATION_FAILURE_KIND_{kind.name}") == kind


# ---------------------------------------------------------------- done?


@pytest.mark.parametrize(
    ("vms_on_host", "active", "state"),
    [
        pytest.param([], [], EvacuationState.EMPTY, id="empty"),
        pytest.param(
            [vm("off", state=VmState.SHUT_OFF)], [], EvacuationState.EMPTY, id="only shut off"
        ),
        pytest.param(
            [vm("a")], [migration("m", vm("a"))], EvacuationState.IN_PROGRESS, id="queued"
        ),
        pytest.param(
            [vm("a")],
            [migration("m", vm("a"), to=2, phase=MigrationPhase.RUNNING)],
            EvacuationState.IN_PROGRESS,
            id="running",
        ),
        pytest.param([vm("a")], [], EvacuationState.STUCK, id="nothing moves it"),
        pytest.param(
            [vm("a")],
            [migration("m", vm("a"), phase=MigrationPhase.FAILED)],
            EvacuationState.STUCK,
            id="finished ones do not count",
        ),
        pytest.param(
            [vm("a")],
            [migration("m", vm("x", on=2))],
            EvacuationState.STUCK,
            id="other hosts' do not count",
        ),
    ],
)
def test_evacuation_state(
    vms_on_host: list[Vm], active: list[Migration], state: EvacuationState
) -> None:
    assert evacuation_state("h1", vms_on_host, active) is state


# ---------------------------------------------------------------- the whole cycle


def test_maintenance_of_a_host_with_4_vms_and_outgoing_limit_2() -> None:
    """Plan, queue, admit round after round; host2 fails every migration it receives, and one
    VM fits nowhere. Never more than 2 leave host1 at once; the failed ones are rerun on other
    hosts; the VM nothing can take is reported and the loop ends."""
    source = host(1, status=HostStatus.PREPARING_FOR_MAINTENANCE)
    hosts: list[HostView] = [source, host(2), host(3, mig_speed=1000), host(4, mig_speed=1000)]
    vms = {v.id: v for v in (vm(f"v{i}", memory_mib=4 * GIB) for i in range(4))}
    vms["vm-huge"] = vm("huge", memory_mib=10**7)
    cluster_networks = networks(policy=MigrationPolicy(max_outgoing_per_host=2))
    plan = plan_evacuation(source, list(vms.values()), hosts, cluster_networks)
    assert [u.vm_name for u in plan.unplaced] == ["huge"]
    queued = [
        replace(migration(f"m-{p.vm.name}", p.vm, seconds=i), evacuation_host_id="h1")
        for i, p in enumerate(plan.planned)
    ]
    running: list[Migration] = []
    reported = [u.vm_name for u in plan.unplaced]
    reruns = 0
    for round_number in range(50):  # noqa: B007 (checked after the loop)
        verdicts = admit_queued(
            queued, running, hosts, vms, cluster_networks, now=source.host.created_at
        )
        queued = []
        for verdict in verdicts:
            if verdict.verdict is AdmissionVerdict.START:
                running.append(
                    replace(
                        verdict.migration,
                        phase=MigrationPhase.RUNNING,
                        destination_host_id=verdict.destination_host_id,
                    )
                )
            elif verdict.verdict is AdmissionVerdict.WAIT:
                assert "outgoing" in verdict.reason
                queued.append(verdict.migration)
            else:
                reported.append(verdict.migration.vm_name)
        assert len(running) <= 2
        # Every running migration finishes this round: host2 fails them, the others succeed.
        finished, running = running, []
        for done in finished:
            if done.destination_host_id == "h2":
                decision = decide_rerun(done, MigrationFailureKind.DESTINATION)
                assert decision.rerun
                reruns += 1
                queued.append(
                    replace(
                        done,
                        id=done.id + "-rerun",
                        phase=MigrationPhase.QUEUED,
                        destination_host_id="",
                        tried_host_ids=decision.tried_host_ids,
                    )
                )
            else:
                vms[done.vm_id] = replace(vms[done.vm_id], host_id=done.destination_host_id)
        on_host = [v for v in vms.values() if v.host_id == "h1"]
        state = evacuation_state("h1", on_host, queued + running)
        if state is not EvacuationState.IN_PROGRESS:
            break
    assert state is EvacuationState.STUCK
    assert round_number < 10
    assert reported == ["huge"]
    assert reruns >= 1
    assert {v.name for v in vms.values() if v.host_id == "h1"} == {"huge"}


# ---------------------------------------------------------------- the plan agrees with placement


@pytest.mark.parametrize("seed", range(100))
def test_plan_places_a_vm_where_the_assessment_finds_room(seed: int) -> None:
    """One VM: the plan puts it on a host the per-host assessment rejects only for what
    waiting lifts (the queue waits for those), one where it gets the most bandwidth, and
    reports the assessment's reasons when there is none."""
    rng = random.Random(seed)
    source = host(1)
    hosts = [source, *(random_host(rng, i) for i in range(2, rng.randint(2, 12)))]
    rng.shuffle(hosts)
    cluster_networks = networks(
        migration=rng.random() > 0.2, version=rng.choice(["4.7", "4.7", "3.2"])
    )
    loads = {f"h{rng.randint(2, 12)}": HostLoad(rng.randint(0, 2), rng.randint(0, 9000))}
    the_vm = vm("web1", on=1, memory_mib=4096)
    plan = plan_evacuation(source, [the_vm], hosts, cluster_networks, loads=loads)
    assessments = assess_destinations(the_vm, source, hosts, cluster_networks, loads=loads)
    room = [a for a in assessments if all(r.kind.transient for r in a.rejections)]
    best = min(room, key=lambda a: (-a.score, a.host.host.name, a.host.host.id), default=None)
    if best is None:
        assert not plan.planned
        [unplaced] = plan.unplaced
        assert unplaced.reason == describe_rejections(the_vm, assessments)
    else:
        [planned] = plan.planned
        bandwidth = {
            a.host.host.id: share_mibps(
                choose_migration_uri(cluster_networks, source, a.host), the_vm, cluster_networks, 1
            )
            for a in room
        }
        assert planned.destination_host_id in bandwidth
        assert planned.bandwidth_mibps == max(bandwidth.values())
        assert bandwidth[planned.destination_host_id] == planned.bandwidth_mibps
