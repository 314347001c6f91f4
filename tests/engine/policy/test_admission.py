"""Storm control: which queued migrations start now under the per-host and per-cluster
limits, and why the others wait."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from miglane.engine.domain.admission import (
    AdmissionVerdict,
    MigrationLimits,
    admit_queued,
    still_busy,
)
from miglane.engine.domain.migratable import not_live_migratable_reason
from miglane.engine.domain.model import (
    FallbackReason,
    HostStatus,
    HostView,
    Migration,
    MigrationPhase,
    MigrationPolicy,
    Vm,
    VmState,
)

from .builders import T0, host, migration, networks, vm

START, WAIT, FAIL = AdmissionVerdict.START, AdmissionVerdict.WAIT, AdmissionVerdict.FAIL
RUNNING = MigrationPhase.RUNNING
HOSTS = [host(i) for i in range(1, 7)]


def admit(
    queued: list[Migration],
    slot_holders: list[Migration] | None = None,
    *,
    hosts: list[HostView] = HOSTS,
    vms: list[Vm] | None = None,
    policy: MigrationPolicy | None = None,
    now: datetime = T0,
    busy_until: dict[str, datetime] | None = None,
) -> list[tuple[str, AdmissionVerdict, str, str]]:
    """(migration id, verdict, destination, reason) per queued migration."""
    slot_holders = slot_holders or []
    known = vms if vms is not None else _vms_of([*queued, *slot_holders])
    verdicts = admit_queued(
        queued,
        slot_holders,
        hosts,
        {v.id: v for v in known},
        networks(policy=policy),
        now=now,
        busy_until=busy_until,
    )
    assert [v.migration for v in verdicts] == queued
    return [(v.migration.id, v.verdict, v.destination_host_id, v.reason) for v in verdicts]


_ALL_VMS: dict[str, Vm] = {}


def vm_on(name: str, on: int, memory_mib: int = 4096) -> Vm:
    made = vm(name, on=on, memory_mib=memory_mib)
    _ALL_VMS[made.id] = made
    return made


def _vms_of(migrations: list[Migration]) -> list[Vm]:
    return [_ALL_VMS[m.vm_id] for m in migrations]


def manual(
    ident: str,
    src: int,
    dst: int,
    *,
    seconds: int = 0,
    phase: MigrationPhase = MigrationPhase.QUEUED,
) -> Migration:
    return migration(ident, vm_on(f"vm-{ident}", src), to=dst, phase=phase, seconds=seconds)


def auto(ident: str, src: int, *, seconds: int = 0, tried: tuple[str, ...] = ()) -> Migration:
    return migration(ident, vm_on(f"vm-{ident}", src), seconds=seconds, tried=tried)


@pytest.mark.parametrize(
    ("policy", "limits"),
    [
        (MigrationPolicy(), MigrationLimits(2, 2, 0)),
        (
            MigrationPolicy(max_outgoing_per_host=0, max_incoming_per_host=0),
            MigrationLimits(2, 2, 0),
        ),
        (
            MigrationPolicy(
                max_outgoing_per_host=4, max_incoming_per_host=3, max_concurrent_per_cluster=5
            ),
            MigrationLimits(4, 3, 5),
        ),
    ],
)
def test_limits_from_policy(policy: MigrationPolicy, limits: MigrationLimits) -> None:
    assert MigrationLimits.of(policy) == limits


def test_outgoing_limit() -> None:
    queued = [manual(f"m{i}", 1, i + 1, seconds=i) for i in range(1, 5)]
    result = admit(queued)
    assert [v for _, v, _, _ in result] == [START, START, WAIT, WAIT]
    assert (
        result[2][3] == "source host host1 has 2 of 2 outgoing migrations (max_outgoing_per_host)"
    )


def test_incoming_limit() -> None:
    queued = [manual(f"m{i}", i, 6, seconds=i) for i in range(1, 5)]
    result = admit(queued)
    assert [v for _, v, _, _ in result] == [START, START, WAIT, WAIT]
    assert result[3][3] == (
        "destination host host6 has 2 of 2 incoming migrations (max_incoming_per_host)"
    )


def test_cluster_limit() -> None:
    queued = [manual(f"m{i}", i, i + 1) for i in range(1, 5)]
    result = admit(queued, policy=MigrationPolicy(max_concurrent_per_cluster=3))
    assert [v for _, v, _, _ in result] == [START, START, START, WAIT]
    assert (
        result[3][3] == "cluster prod has 3 of 3 concurrent migrations (max_concurrent_per_cluster)"
    )


def test_running_migrations_hold_their_slots() -> None:
    running = [
        manual("r1", 1, 2, phase=RUNNING),
        manual("r2", 3, 2, phase=MigrationPhase.PREPARING),
        manual("done", 1, 4, phase=MigrationPhase.COMPLETED),  # holds nothing
    ]
    queued = [manual("q1", 1, 3), manual("q2", 1, 4), manual("q3", 4, 2)]
    result = admit(queued, running)
    assert [(i, v) for i, v, _, _ in result] == [("q1", START), ("q2", WAIT), ("q3", WAIT)]
    assert "host1 has 2 of 2 outgoing" in result[1][3]
    assert "host2 has 2 of 2 incoming" in result[2][3]


def test_fifo_without_head_of_line_blocking() -> None:
    queued = [
        manual("first", 1, 2, seconds=0),
        manual("second", 1, 3, seconds=1),
        manual("third", 1, 4, seconds=2),  # waits: host1 is full
        manual("fourth", 5, 6, seconds=3),  # another source: starts
    ]
    assert [v for _, v, _, _ in admit(queued)] == [START, START, WAIT, START]


@pytest.mark.parametrize(
    ("busy_host", "now_offset", "verdict", "phrase"),
    [
        (
            2,
            0,
            WAIT,
            "destination host host2's agent answered busy; retrying after 2026-01-01T12:00:10",
        ),
        (2, 10, START, ""),
        (1, 5, WAIT, "source host host1's agent answered busy; retrying after"),
        (1, 11, START, ""),
    ],
)
def test_busy_agents_are_skipped_until_their_retry_time(
    busy_host: int, now_offset: int, verdict: AdmissionVerdict, phrase: str
) -> None:
    busy = {f"h{busy_host}": T0 + timedelta(seconds=10)}  # busy at T0, retried 10 s later
    [(_, got, _, reason)] = admit(
        [manual("m", 1, 2)], now=T0 + timedelta(seconds=now_offset), busy_until=busy
    )
    assert got is verdict
    assert phrase in reason


def test_still_busy_drops_expired_marks() -> None:
    marks = {"h1": T0 + timedelta(seconds=1), "h2": T0}
    assert still_busy(marks, T0) == {"h1": T0 + timedelta(seconds=1)}


def test_automatic_migrations_are_placed_at_start_and_spread() -> None:
    hosts = [host(1), host(2), host(3), host(4)]
    queued = [auto(f"a{i}", 1 + i % 2, seconds=i) for i in range(4)]
    result = admit(queued, hosts=hosts, policy=MigrationPolicy(max_outgoing_per_host=4))
    assert all(v is START for _, v, _, _ in result)
    incoming = Counter(dst for _, _, dst, _ in result)
    assert max(incoming.values()) <= 2
    assert all(dst != f"h{1 + i % 2}" for i, (_, _, dst, _) in enumerate(result))


def test_automatic_start_carries_the_data_path() -> None:
    [verdict] = admit_queued(
        [m := auto("a", 1)],
        [],
        [host(1), host(2, mig_link_up=False), host(3, mig_speed=1)],
        {_ALL_VMS[m.vm_id].id: _ALL_VMS[m.vm_id]},
        networks(),
        now=T0,
    )
    assert verdict.destination_host_id == "h3"
    assert verdict.path is not None and verdict.path.fallback_reason is FallbackReason.NONE
    assert verdict.path.migration_uri == "tcp://10.0.2.3"


def test_automatic_waits_when_every_host_is_full() -> None:
    """host1 has incoming slots, but it is the source: the scheduler says why it waits."""
    hosts = [host(1), host(2), host(3)]
    running = [manual("r1", 3, 2, phase=RUNNING), manual("r2", 3, 2, phase=RUNNING)]
    running += [manual("r3", 2, 3, phase=RUNNING), manual("r4", 2, 3, phase=RUNNING)]
    [(_, verdict, _, reason)] = admit([auto("a", 1)], running, hosts=hosts)
    assert verdict is WAIT
    assert reason.startswith("every host that can take the VM is at its incoming limit or busy")
    assert "host2 2 of 2 incoming migrations" in reason
    assert "host3 2 of 2 incoming migrations" in reason


def test_automatic_waits_cheaply_when_no_host_has_a_slot() -> None:
    hosts = [host(1), host(2), host(3)]
    running = [manual(f"r{i}", src, dst, phase=RUNNING) for i, (src, dst) in enumerate(
        [(2, 1), (3, 1), (1, 2), (3, 2), (1, 3), (2, 3)])]  # fmt: skip
    result = admit(
        [auto("a", 1)], running, hosts=hosts, policy=MigrationPolicy(max_outgoing_per_host=3)
    )
    assert result[0][1] is WAIT
    assert result[0][3] == "every UP host has 2 of 2 incoming migrations (max_incoming_per_host)"


def test_automatic_fails_when_no_host_can_ever_take_it() -> None:
    big = migration("big", vm_on("big", 1, memory_mib=10**7))
    [(_, verdict, _, reason)] = admit([big])
    assert verdict is FAIL
    assert reason.startswith("no host can take VM 'big'")


def test_automatic_rerun_avoids_tried_hosts() -> None:
    hosts = [host(1), host(2), host(3, mig_speed=1)]
    [(_, verdict, dst, _)] = admit([auto("a", 1, tried=("h2",))], hosts=hosts)
    assert (verdict, dst) == (START, "h3")
    [(_, verdict, _, _)] = admit([auto("b", 1, tried=("h2", "h3"))], hosts=hosts)
    assert verdict is FAIL


@pytest.mark.parametrize(
    ("hosts", "verdict", "phrase"),
    [
        pytest.param(
            [host(1), host(2, status=HostStatus.UNREACHABLE, status_reason="agent silent")],
            WAIT,
            "destination host host2: status unreachable (agent silent)",
            id="manual destination unreachable: wait",
        ),
        pytest.param(
            [host(1), host(2, status=HostStatus.MAINTENANCE)],
            FAIL,
            "destination host host2 cannot take it: status maintenance",
            id="manual destination in maintenance: fail",
        ),
        pytest.param([host(1)], FAIL, "destination host h2 was removed", id="destination removed"),
        pytest.param([host(2)], FAIL, "source host h1 was removed", id="source removed"),
        pytest.param(
            [host(1, status=HostStatus.UNREACHABLE), host(2)],
            WAIT,
            "source host host1 is unreachable",
            id="source unreachable: wait",
        ),
        pytest.param(
            [host(1, status=HostStatus.NON_OPERATIONAL), host(2)],
            START,
            "",
            id="a non-operational source may send",
        ),
        pytest.param(
            [host(1, status=HostStatus.PREPARING_FOR_MAINTENANCE), host(2)],
            START,
            "",
            id="an evacuating source may send",
        ),
    ],
)
def test_hosts_out_of_service(
    hosts: list[HostView], verdict: AdmissionVerdict, phrase: str
) -> None:
    [(_, got, _, reason)] = admit([manual("m", 1, 2)], hosts=hosts)
    assert got is verdict
    assert phrase in reason


def test_vm_gone_or_moved_fails() -> None:
    queued = [manual("gone", 1, 2), manual("moved", 1, 3)]
    moved = replace(_ALL_VMS[queued[1].vm_id], host_id="h4")
    result = admit(queued, vms=[moved])
    assert result[0][1:] == (FAIL, "", "VM 'vm-gone' is gone")
    assert result[1][1:] == (FAIL, "", "VM 'vm-moved' is no longer on host1 (now on host4)")


# ---------------------------------------------------------------- a storm


@pytest.mark.parametrize("seed", range(5))
def test_storm_of_200_vms_over_20_hosts_never_exceeds_a_limit(seed: int) -> None:
    """Queue 200 migrations (half automatic), run admission rounds where random running ones
    finish and random agents answer busy: every migration eventually starts, and no round ever
    holds more than the limits allow."""
    rng = random.Random(seed)
    hosts = [host(i, free_mib=10**6) for i in range(1, 21)]
    policy = MigrationPolicy(
        max_outgoing_per_host=2, max_incoming_per_host=2, max_concurrent_per_cluster=15
    )
    vms: dict[str, Vm] = {}
    queued: list[Migration] = []
    for i in range(200):
        src = rng.randint(1, 20)
        the_vm = vm(f"s{i}", on=src, memory_mib=rng.choice([1024, 2048, 4096]))
        vms[the_vm.id] = the_vm
        if rng.random() < 0.5:
            queued.append(migration(f"m{i}", the_vm, seconds=i))
        else:
            dst = rng.choice([h for h in range(1, 21) if h != src])
            queued.append(migration(f"m{i}", the_vm, to=dst, seconds=i))
    running: list[Migration] = []
    started = 0
    now = T0
    for _ in range(2000):
        if not queued and not running:
            break
        now += timedelta(seconds=1)
        busy = {f"h{rng.randint(1, 20)}": now + timedelta(seconds=2)} if rng.random() < 0.3 else {}
        verdicts = admit_queued(
            queued, running, hosts, vms, networks(policy=policy), now=now, busy_until=busy
        )
        assert not [v for v in verdicts if v.verdict is FAIL]
        for v in verdicts:
            if v.verdict is START:
                running.append(
                    replace(v.migration, phase=RUNNING, destination_host_id=v.destination_host_id)
                )
                started += 1
        queued = [v.migration for v in verdicts if v.verdict is WAIT]
        outgoing = Counter(m.source_host_id for m in running)
        incoming = Counter(m.destination_host_id for m in running)
        assert len(running) <= 15
        assert max(outgoing.values(), default=0) <= 2
        assert max(incoming.values(), default=0) <= 2
        assert all(m.source_host_id != m.destination_host_id for m in running)
        rng.shuffle(running)
        running = running[: rng.randint(len(running) // 2, len(running))]
    assert started == 200 and not queued


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        (VmState.SHUT_OFF, "shut off"),
        (VmState.CRASHED, "crashed"),
        (VmState.SAVED, "saved"),
        (VmState.UNSPECIFIED, "in an unknown state"),
    ],
)
def test_a_vm_that_stopped_while_queued_fails(state: VmState, shown: str) -> None:
    queued = [manual("m", 1, 2)]
    stopped = replace(_ALL_VMS[queued[0].vm_id], state=state)
    [(_, verdict, _, reason)] = admit(queued, vms=[stopped])
    assert verdict is FAIL
    assert reason == not_live_migratable_reason(stopped)
    assert reason.startswith(f"VM 'vm-m' is {shown}: ")


def test_a_vm_migrating_by_another_job_waits_for_it() -> None:
    queued = [manual("m", 1, 2)]
    moving = replace(_ALL_VMS[queued[0].vm_id], state=VmState.MIGRATING)
    [(_, verdict, _, reason)] = admit(queued, vms=[moving])
    assert verdict is WAIT and "migrating" in reason


@pytest.mark.parametrize("state", [VmState.RUNNING, VmState.PAUSED])
def test_running_and_paused_vms_start(state: VmState) -> None:
    queued = [manual("m", 1, 2)]
    [(_, verdict, _, _)] = admit(queued, vms=[replace(_ALL_VMS[queued[0].vm_id], state=state)])
    assert verdict is START


def with_agent_limit(view: HostView, limit: int) -> HostView:
    facts = replace(view.host.facts, max_outgoing_migrations=limit)
    return replace(view, host=replace(view.host, facts=facts))


@pytest.mark.parametrize(
    ("policy_limit", "agent_limit", "expected"),
    [
        (2, 0, 2),  # the agent did not report one: the policy's
        (2, 1, 1),  # the agent runs fewer at once: its own
        (2, 5, 2),  # the policy is lower: the policy's
        (0, 1, 1),  # the policy's default (2) is above the agent's
        (3, 3, 3),
    ],
)
def test_outgoing_limit_is_the_lower_of_policy_and_agent(
    policy_limit: int, agent_limit: int, expected: int
) -> None:
    hosts = [with_agent_limit(host(1), agent_limit), *HOSTS[1:]]
    queued = [manual(f"m{i}", 1, 2 + i) for i in range(4)]
    policy = MigrationPolicy(max_outgoing_per_host=policy_limit, max_incoming_per_host=4)
    result = admit(queued, hosts=hosts, policy=policy)
    assert [verdict for _, verdict, _, _ in result] == [START] * expected + [WAIT] * (4 - expected)
    limits = MigrationLimits.of(policy)
    assert limits.outgoing_for(hosts[0].host) == expected
    whose = "max_outgoing_per_host" if expected == limits.outgoing_per_host else "its agent"
    assert whose in result[-1][3]
