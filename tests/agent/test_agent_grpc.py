"""AgentService through real grpc.aio servers on port 0, over fake hosts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import grpc
import pytest
from agent_support import AgentTarget, agent_stub, watch_progress
from google.protobuf.duration_pb2 import Duration

from miglane.agent.domain.errors import Reason
from miglane.agent.domain.model import MIB, DiskKind, VmDisk, VmNic, VmState
from miglane.agent.domain.validation import (
    COPY_LOCAL_DISKS_FIELD,
    DISKS_URI_FIELD,
    DST_FIELD,
    MAX_BANDWIDTH_FIELD,
    MIGRATION_URI_FIELD,
    SAVE_PATH_FIELD,
    save_file_name,
)
from miglane.agent.fake_driver import FakeFabric
from miglane.agent.grpc_api.errors import ERROR_DOMAIN
from miglane.agent.service import DEFAULT_MAX_OUTGOING
from miglane.agent.testing import FakeAgent, start_fake_agents, stop_fake_agents
from miglane.pki import load_credentials
from miglane.testing.extreme_requests import extreme_requests
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import agent_pb2_grpc, common_pb2
from miglane.v1.rich_errors import error_details

pytestmark = pytest.mark.usefixtures("agent_channels")

SPEED = 8.0
Phase = common_pb2.MigrationPhase


@pytest.fixture
async def cluster(tmp_path) -> AsyncIterator[tuple[FakeFabric, list[FakeAgent]]]:  # type: ignore[no-untyped-def]
    fabric, agents = await start_fake_agents(
        3, 3, vm_memory_mib=256, speed=SPEED, poll_interval=0.05, state_root=str(tmp_path)
    )
    yield fabric, agents
    await stop_fake_agents(agents, grace=0)


def target_of(agent: FakeAgent) -> AgentTarget:
    engine = load_credentials(agent.authority.layout.engine)
    return AgentTarget(agent.address, agent.name, engine)


def stub(agent: FakeAgent) -> agent_pb2_grpc.AgentServiceStub:
    return agent_stub(target_of(agent))


def request(
    src: FakeAgent, dst: FakeAgent, vm: int = 0, mid: str = "m1", **kw
) -> pb.MigrateRequest:  # type: ignore[no-untyped-def]
    kw.setdefault("max_bandwidth_mib_per_second", 64)
    return pb.MigrateRequest(
        migration_id=mid,
        vm_id=src.vm_ids[vm],
        live=pb.LiveTarget(dst=dst.peer_uri, migration_uri="tcp://10.1.0.3"),
        **kw,
    )


async def watch(agent: FakeAgent, mid: str, timeout: float = 30) -> list[pb.MigrationProgress]:
    return await watch_progress(target_of(agent), mid, timeout)


async def code_of(coro) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await coro
    return e.value.code()


async def test_capabilities_and_vms(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, *_) = cluster
    caps = await stub(a).GetCapabilities(pb.GetCapabilitiesRequest())
    assert caps.host_uuid == a.host.uuid
    assert caps.peer_libvirt_uri == a.peer_uri
    assert caps.max_outgoing_migration_count == DEFAULT_MAX_OUTGOING and caps.cpu_count > 0
    assert {n.name for n in caps.nics} == {"eth0", "mig0"}
    assert all(n.addresses and n.link_up for n in caps.nics)
    vms = (await stub(a).ListVms(pb.ListVmsRequest())).vms
    assert {v.id for v in vms} == set(a.vm_ids)
    assert all(v.state == common_pb2.VM_STATE_RUNNING and v.memory_mib == 256 for v in vms)


async def test_migration_completes_with_trustworthy_progress(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _) = cluster
    started = await stub(a).Migrate(request(a, b))
    assert started.progress.phase == Phase.MIGRATION_PHASE_RUNNING
    vms = (await stub(a).ListVms(pb.ListVmsRequest())).vms
    moving = next(v for v in vms if v.id == a.vm_ids[0])
    assert (moving.state, moving.migration_id) == (common_pb2.VM_STATE_MIGRATING, "m1")
    samples = await watch(a, "m1")
    percents = [s.progress_percent for s in samples]
    assert percents == sorted(percents)
    assert all(p <= 99 for p in percents[:-1]) and percents[-1] == 100
    final = samples[-1]
    assert final.phase == Phase.MIGRATION_PHASE_COMPLETED
    assert final.failure_kind == pb.MIGRATION_FAILURE_KIND_UNSPECIFIED
    assert final.data_total_bytes == 256 * MIB and final.data_processed_bytes >= 256 * MIB
    assert final.downtime.ToMilliseconds() > 0 and final.finished_at.seconds > 0
    assert final.migration_uri == "tcp://10.1.0.3" and final.dst == b.peer_uri
    running = [s for s in samples if s.phase == Phase.MIGRATION_PHASE_RUNNING]
    assert any(s.throughput_bytes_per_second == 64 * MIB for s in running)
    assert a.vm_ids[0] in b.host.domains and a.vm_ids[0] not in a.host.domains
    jobs = (
        await stub(a).ListMigrationJobs(pb.ListMigrationJobsRequest(include_finished=True))
    ).jobs
    assert [j.migration_id for j in jobs] == ["m1"]
    assert not (await stub(a).ListMigrationJobs(pb.ListMigrationJobsRequest())).jobs
    status = await stub(a).GetMigrationStatus(pb.GetMigrationStatusRequest(migration_id="m1"))
    assert status.progress == final


INVALID = grpc.StatusCode.INVALID_ARGUMENT
REFUSED = grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    ("change", "code", "reason", "field"),
    [
        (
            {"live.migration_uri": "udp://10.1.0.3"},
            INVALID,
            Reason.INVALID_FIELD,
            MIGRATION_URI_FIELD,
        ),
        (
            {"live.migration_uri": "tcp://fd00::1"},
            INVALID,
            Reason.INVALID_FIELD,
            MIGRATION_URI_FIELD,
        ),
        (
            {"live.migration_uri": "tcp://10.1.0.3:99999"},
            INVALID,
            Reason.INVALID_FIELD,
            MIGRATION_URI_FIELD,
        ),
        ({"live.migration_uri": ""}, INVALID, Reason.INVALID_FIELD, MIGRATION_URI_FIELD),
        ({"live.dst": ""}, INVALID, Reason.INVALID_FIELD, DST_FIELD),
        ({"max_bandwidth_mib_per_second": 0}, INVALID, Reason.INVALID_FIELD, MAX_BANDWIDTH_FIELD),
        ({"live": None}, INVALID, Reason.INVALID_FIELD, "target"),
        ({"migration_id": ""}, INVALID, Reason.INVALID_FIELD, "migration_id"),
        (
            {"vm_id": "00000000-0000-4000-8000-000000000000"},
            grpc.StatusCode.NOT_FOUND,
            Reason.VM_NOT_FOUND,
            "",
        ),
        # the agent builds the libvirt URI: only qemu+tls:// to a named host
        (
            {"live.dst": "qemu+tcp://10.0.1.12:16509/system"},
            INVALID,
            Reason.INVALID_FIELD,
            DST_FIELD,
        ),
        ({"live.dst": "qemu+tls://b/system?pkipath=/x"}, INVALID, Reason.INVALID_FIELD, DST_FIELD),
        ({"live.migration_uri": "unix:///x"}, INVALID, Reason.INVALID_FIELD, MIGRATION_URI_FIELD),
        # the disk copy goes to an address over plain TCP (TLS from `encrypted`), nothing else
        ({"disks_uri": "unix:///x"}, INVALID, Reason.INVALID_FIELD, DISKS_URI_FIELD),
        ({"disks_uri": "tcp://10.1.0.3/x"}, INVALID, Reason.INVALID_FIELD, DISKS_URI_FIELD),
        ({"disks_uri": "tcp://10.1.0.3:0"}, INVALID, Reason.INVALID_FIELD, DISKS_URI_FIELD),
        ({"live.dst": "nowhere"}, REFUSED, Reason.DESTINATION_UNREACHABLE, ""),
        ({"live.dst": "self"}, REFUSED, Reason.DESTINATION_UNREACHABLE, ""),
    ],
)
async def test_refusals_carry_a_reason_and_the_field_at_fault(  # type: ignore[no-untyped-def]
    cluster, change: dict, code: grpc.StatusCode, reason: Reason, field: str
) -> None:
    _, (a, b, _) = cluster
    req = request(a, b)
    for name, value in change.items():
        if value is None:
            req.ClearField(name)
        elif name.startswith("live."):
            setattr(req.live, name.removeprefix("live."), a.peer_uri if value == "self" else value)
        else:
            setattr(req, name, value)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub(a).Migrate(req)
    said = error_details(refused.value.trailing_metadata())
    assert (refused.value.code(), said.reason, said.domain) == (code, reason, ERROR_DOMAIN)
    # The sentence stays in the message; BadRequest names the field of an invalid request.
    assert refused.value.details()
    if field:
        assert [f for f, _ in said.field_violations] == [field]
        assert said.field_violations[0][1] == refused.value.details()
    else:
        assert not said.field_violations
    # a refused migration leaves no job behind, and its id can be used again
    assert not (
        await stub(a).ListMigrationJobs(pb.ListMigrationJobsRequest(include_finished=True))
    ).jobs


async def test_vm_not_running_and_duplicates(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _) = cluster
    a.host.domains[a.vm_ids[2]].state = a.host.domains[a.vm_ids[2]].state.SHUT_OFF
    assert (
        await code_of(stub(a).Migrate(request(a, b, vm=2))) == grpc.StatusCode.FAILED_PRECONDITION
    )
    await stub(a).Migrate(request(a, b, max_bandwidth_mib_per_second=8))
    assert await code_of(stub(a).Migrate(request(a, b, vm=1))) == grpc.StatusCode.ALREADY_EXISTS
    again = request(a, b, mid="m2")
    assert await code_of(stub(a).Migrate(again)) == grpc.StatusCode.FAILED_PRECONDITION
    for call in (
        stub(a).GetMigrationStatus(pb.GetMigrationStatusRequest(migration_id="nope")),
        stub(a).MigrateCancel(pb.MigrateCancelRequest(migration_id="nope")),
        watch(a, "nope"),
    ):
        assert await code_of(call) == grpc.StatusCode.NOT_FOUND


async def test_outgoing_limit(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, c) = cluster
    for k in range(DEFAULT_MAX_OUTGOING):
        await stub(a).Migrate(
            request(a, b if k else c, vm=k, mid=f"m{k}", max_bandwidth_mib_per_second=4)
        )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub(a).Migrate(
            request(a, b, vm=DEFAULT_MAX_OUTGOING, mid="over", max_bandwidth_mib_per_second=4)
        )
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_details(refused.value.trailing_metadata()).reason == Reason.AGENT_BUSY
    caps = await stub(a).GetCapabilities(pb.GetCapabilitiesRequest())
    assert (
        caps.running_outgoing_migration_count
        == caps.max_outgoing_migration_count
        == DEFAULT_MAX_OUTGOING
    )


async def test_capabilities_report_the_outgoing_limit_the_agent_enforces(tmp_path) -> None:  # type: ignore[no-untyped-def]
    limit = DEFAULT_MAX_OUTGOING + 1
    _, (a, b) = await start_fake_agents(
        2, limit + 1, speed=SPEED, state_root=str(tmp_path), max_outgoing=limit
    )
    try:
        caps = await stub(a).GetCapabilities(pb.GetCapabilitiesRequest())
        assert caps.max_outgoing_migration_count == limit
        for k in range(limit):
            await stub(a).Migrate(request(a, b, vm=k, mid=f"m{k}", max_bandwidth_mib_per_second=4))
        over = stub(a).Migrate(request(a, b, vm=limit, mid="over", max_bandwidth_mib_per_second=4))
        assert await code_of(over) == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await stop_fake_agents([a, b], grace=0)


async def test_cancel_keeps_the_vm_on_the_source(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _) = cluster
    await stub(a).Migrate(request(a, b, max_bandwidth_mib_per_second=8))
    status = pb.GetMigrationStatusRequest(migration_id="m1")
    async with asyncio.timeout(30):  # some of it copied, however slow the machine
        while (await stub(a).GetMigrationStatus(status)).progress.progress_percent == 0:
            await asyncio.sleep(0.05)
    cancelled = (await stub(a).MigrateCancel(pb.MigrateCancelRequest(migration_id="m1"))).progress
    assert cancelled.phase == Phase.MIGRATION_PHASE_CANCELLED
    assert cancelled.failure_kind == pb.MIGRATION_FAILURE_KIND_CANCELLED
    assert 0 < cancelled.progress_percent < 100
    assert a.vm_ids[0] in a.host.domains and a.vm_ids[0] not in b.host.domains
    again = await stub(a).MigrateCancel(pb.MigrateCancelRequest(migration_id="m1"))
    assert again.progress.phase == Phase.MIGRATION_PHASE_CANCELLED


async def test_change_bandwidth_mid_flight(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _) = cluster
    await stub(a).Migrate(request(a, b, max_bandwidth_mib_per_second=8))
    bad = stub(a).MigrateChangeParams(pb.MigrateChangeParamsRequest(migration_id="m1"))
    assert await code_of(bad) == grpc.StatusCode.INVALID_ARGUMENT
    changed = await stub(a).MigrateChangeParams(
        pb.MigrateChangeParamsRequest(
            migration_id="m1",
            max_bandwidth_mib_per_second=128,
            max_downtime=Duration(nanos=400 * 1_000_000),
        )
    )
    assert changed.progress.max_bandwidth_mib_per_second == 128
    assert changed.progress.max_downtime.ToMilliseconds() == 400
    samples = await watch(a, "m1")
    assert samples[-1].phase == Phase.MIGRATION_PHASE_COMPLETED
    assert any(s.throughput_bytes_per_second == 128 * MIB for s in samples)
    late = stub(a).MigrateChangeParams(
        pb.MigrateChangeParamsRequest(migration_id="m1", max_bandwidth_mib_per_second=1)
    )
    assert await code_of(late) == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_cap_changed_while_a_sample_is_taken_stands(cluster) -> None:  # type: ignore[no-untyped-def]
    # The monitor reads the NICs' counters between its sample and the status it records: a cap
    # changed in that moment must not be overwritten by the sample's older status.
    _, (a, b, _) = cluster
    await stub(a).Migrate(request(a, b, max_bandwidth_mib_per_second=8))
    monitor = a.agent.monitor
    reading, release = asyncio.Event(), asyncio.Event()
    read_counters = monitor.read_nic_counters

    async def held_read():  # type: ignore[no-untyped-def]
        reading.set()
        await release.wait()
        return await read_counters()

    monitor.read_nic_counters = held_read
    await asyncio.wait_for(reading.wait(), 10)
    await stub(a).MigrateChangeParams(
        pb.MigrateChangeParamsRequest(migration_id="m1", max_bandwidth_mib_per_second=16)
    )
    reading.clear()
    release.set()
    await asyncio.wait_for(reading.wait(), 10)  # the held sample was recorded, the next began
    assert a.agent.jobs["m1"].status.max_bandwidth_mibps == 16
    monitor.read_nic_counters = read_counters
    await stub(a).MigrateCancel(pb.MigrateCancelRequest(migration_id="m1"))


def schedule(*steps: tuple[int, int, int]) -> common_pb2.ConvergenceSchedule:
    return common_pb2.ConvergenceSchedule(
        initial_downtime=Duration(nanos=100 * 1_000_000),
        stalling=[
            common_pb2.ConvergenceStep(
                stalled_iterations=n, action=action, downtime=Duration(nanos=ms * 1_000_000)
            )
            for n, action, ms in steps
        ],
    )


async def test_schedule_aborts_a_migration_that_cannot_converge(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _) = cluster
    a.host.set_dirty_rate(a.vm_ids[0], 512, dirty_set_mib=96)
    req = request(
        a,
        b,
        max_bandwidth_mib_per_second=64,
        convergence_schedule=schedule(
            (1, common_pb2.CONVERGENCE_ACTION_SET_DOWNTIME, 200),
            (2, common_pb2.CONVERGENCE_ACTION_SET_DOWNTIME, 500),
            (3, common_pb2.CONVERGENCE_ACTION_ABORT, 0),
        ),
    )
    await stub(a).Migrate(req)
    samples = await watch(a, "m1")
    final = samples[-1]
    assert final.phase == Phase.MIGRATION_PHASE_FAILED
    assert final.failure_kind == pb.MIGRATION_FAILURE_KIND_NOT_CONVERGING
    assert "convergence schedule" in final.error
    assert final.max_downtime.ToMilliseconds() == 500
    assert {s.max_downtime.ToMilliseconds() for s in samples} >= {100, 200, 500}
    assert max(s.dirty_rate_bytes_per_second for s in samples) > 0
    assert a.vm_ids[0] in a.host.domains and a.vm_ids[0] not in b.host.domains


async def test_schedule_switches_to_post_copy(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _) = cluster
    a.host.set_dirty_rate(a.vm_ids[0], 512, dirty_set_mib=96)
    req = request(
        a,
        b,
        post_copy_allowed=True,
        convergence_schedule=schedule(
            (1, common_pb2.CONVERGENCE_ACTION_POST_COPY, 0),
            (2, common_pb2.CONVERGENCE_ACTION_ABORT, 0),
        ),
    )
    await stub(a).Migrate(req)
    final = (await watch(a, "m1"))[-1]
    assert final.phase == Phase.MIGRATION_PHASE_COMPLETED and final.post_copy
    assert a.vm_ids[0] in b.host.domains


async def test_no_progress_timeout(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _) = cluster
    a.host.set_dirty_rate(a.vm_ids[0], 512, dirty_set_mib=96)
    await stub(a).Migrate(request(a, b, no_progress_timeout=Duration(seconds=1)))
    final = (await watch(a, "m1"))[-1]
    assert final.phase == Phase.MIGRATION_PHASE_FAILED
    assert final.failure_kind == pb.MIGRATION_FAILURE_KIND_NOT_CONVERGING
    assert "no-progress timeout" in final.error


async def test_simulated_timeouts_count_the_fabrics_seconds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Sped up 200 times, a 60 s no-progress timeout of the fabric's seconds ends in well under
    # the minute a timeout counting real seconds would take.
    timeout_s, speed = 60, 200.0
    _, (a, b) = await start_fake_agents(
        2,
        1,
        vm_memory_mib=256,
        speed=speed,
        poll_interval=0.02,
        state_root=str(tmp_path),
        simulated_timeouts=True,
    )
    try:
        a.host.set_dirty_rate(a.vm_ids[0], 512, dirty_set_mib=96)
        await stub(a).Migrate(request(a, b, no_progress_timeout=Duration(seconds=timeout_s)))
        final = (await watch(a, "m1", timeout=timeout_s / 2))[-1]
        assert final.phase == Phase.MIGRATION_PHASE_FAILED
        assert "no-progress timeout" in final.error
        waited = int(final.error.split("no progress for ")[1].split(" s")[0])
        assert timeout_s <= waited < 2 * timeout_s
    finally:
        await stop_fake_agents([a, b], grace=0)


async def test_network_failure_is_reported(cluster) -> None:  # type: ignore[no-untyped-def]
    from miglane.agent.driver import DriverErrorKind

    _, (a, b, _) = cluster
    a.host.fail_migrations_with = DriverErrorKind.NETWORK
    await stub(a).Migrate(request(a, b))
    final = (await watch(a, "m1"))[-1]
    assert final.phase == Phase.MIGRATION_PHASE_FAILED
    assert final.failure_kind == pb.MIGRATION_FAILURE_KIND_NETWORK
    assert a.vm_ids[0] in a.host.domains


async def test_a_job_that_failed_before_its_first_sample_is_a_failed_job(cluster) -> None:  # type: ignore[no-untyped-def]
    # Data moved before the monitor ever sampled the job (a starved agent): the hypervisor's
    # figures of the ended job say so, and the engine is told of a failed job, which it
    # reruns elsewhere, not of a refusal.
    from miglane.agent.driver import DriverErrorKind

    _, (a, b, _) = cluster
    a.host.fail_migrations_with = DriverErrorKind.NETWORK
    a.host.fail_after_bytes = 1
    await stub(a).Migrate(request(a, b))
    final = (await watch(a, "m1"))[-1]
    assert final.phase == Phase.MIGRATION_PHASE_FAILED
    assert final.failure_kind == pb.MIGRATION_FAILURE_KIND_NETWORK
    # One that failed before any data moved is still a refusal.
    a.host.fail_after_bytes = 0
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub(a).Migrate(request(a, b, vm=1, mid="m2"))
    assert "did not start" in (refused.value.details() or "")


async def test_encrypted_migration_needs_certificates_on_both_hosts(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, c) = cluster
    await stub(a).Migrate(request(a, b, vm=0, mid="tls", encrypted=True))
    assert (await watch(a, "tls"))[-1].phase == Phase.MIGRATION_PHASE_COMPLETED
    c.host.tls_configured = False  # a host never enrolled
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub(a).Migrate(request(a, c, vm=1, mid="to-bare", encrypted=True))
    said = error_details(refused.value.trailing_metadata())
    assert (refused.value.code(), said.reason) == (REFUSED, Reason.TLS_NOT_CONFIGURED)
    assert c.name in refused.value.details() and "server-cert.pem" in refused.value.details()
    assert a.vm_ids[1] in a.host.domains and a.vm_ids[1] not in c.host.domains
    # never a silent clear-text migration; clear text only when asked for
    await stub(a).Migrate(request(a, c, vm=1, mid="clear", encrypted=False))
    assert (await watch(a, "clear"))[-1].phase == Phase.MIGRATION_PHASE_COMPLETED


async def test_hibernate_saves_only_under_the_save_dir(cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, (a, _, _) = cluster
    outside = tmp_path / "owned_by_anyone"
    with_path = pb.MigrateRequest(
        migration_id="h0", vm_id=a.vm_ids[0], hibernation=pb.HibernationTarget(path=str(outside))
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub(a).Migrate(with_path)
    said = error_details(refused.value.trailing_metadata())
    assert refused.value.code() == INVALID and [f for f, _ in said.field_violations] == [
        SAVE_PATH_FIELD
    ]
    assert not outside.exists()
    assert next(v for v in a.driver.list_domains() if v.id == a.vm_ids[0]).state is VmState.RUNNING

    req = pb.MigrateRequest(
        migration_id="h1", vm_id=a.vm_ids[0], hibernation=pb.HibernationTarget()
    )
    started = await stub(a).Migrate(req)
    assert started.progress.mode == common_pb2.MIGRATION_MODE_HIBERNATE
    final = (await watch(a, "h1"))[-1]
    assert final.phase == Phase.MIGRATION_PHASE_COMPLETED and final.progress_percent == 100
    expected = os.path.join(a.agent.saves.path, save_file_name(a.vm_ids[0], "h1"))
    assert final.dst == expected and os.path.exists(expected)
    vms = (await stub(a).ListVms(pb.ListVmsRequest())).vms
    assert next(v for v in vms if v.id == a.vm_ids[0]).state == common_pb2.VM_STATE_SAVED
    # restore takes only a file of the save directory
    for elsewhere in (str(outside), "/etc/passwd", "../h1.save", f"{a.agent.saves.path}/../x"):
        assert await code_of(stub(a).Restore(pb.RestoreRequest(path=elsewhere))) == INVALID
    missing = os.path.join(a.agent.saves.path, "missing.save")
    assert (
        await code_of(stub(a).Restore(pb.RestoreRequest(path=missing))) == grpc.StatusCode.NOT_FOUND
    )
    restored = await stub(a).Restore(pb.RestoreRequest(path=final.dst))
    assert restored.vm.id == a.vm_ids[0] and restored.vm.state == common_pb2.VM_STATE_RUNNING


async def test_restart_resumes_the_running_migration(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _) = cluster
    await stub(a).Migrate(request(a, b, vm=0, mid="done", max_bandwidth_mib_per_second=512))
    assert (await watch(a, "done"))[-1].phase == Phase.MIGRATION_PHASE_COMPLETED
    await stub(a).Migrate(request(a, b, vm=1, mid="running", max_bandwidth_mib_per_second=16))
    before = await stub(a).GetMigrationStatus(pb.GetMigrationStatusRequest(migration_id="running"))
    await a.restart()
    after = await stub(a).GetMigrationStatus(pb.GetMigrationStatusRequest(migration_id="running"))
    assert after.progress.phase == Phase.MIGRATION_PHASE_RUNNING
    assert after.progress.progress_percent >= before.progress.progress_percent
    samples = await watch(a, "running")
    assert samples[-1].phase == Phase.MIGRATION_PHASE_COMPLETED
    assert samples[-1].downtime.ToMilliseconds() > 0
    jobs = (
        await stub(a).ListMigrationJobs(pb.ListMigrationJobsRequest(include_finished=True))
    ).jobs
    assert {j.migration_id: j.phase for j in jobs} == {
        "done": Phase.MIGRATION_PHASE_COMPLETED,
        "running": Phase.MIGRATION_PHASE_COMPLETED,
    }


async def test_restart_after_the_job_ended_meanwhile(cluster) -> None:  # type: ignore[no-untyped-def]
    fabric, (a, b, _) = cluster
    await stub(a).Migrate(request(a, b, max_bandwidth_mib_per_second=64))
    await a.stop(0)
    fabric.clock.set_speed(SPEED * 50)  # the migration finishes while no agent watches
    async with asyncio.timeout(30):
        while await asyncio.to_thread(a.driver.job_stats, a.vm_ids[0]) is not None:
            await asyncio.sleep(0.01)
    await a.restart()
    status = await stub(a).GetMigrationStatus(pb.GetMigrationStatusRequest(migration_id="m1"))
    if status.progress.phase == Phase.MIGRATION_PHASE_RUNNING:
        status = pb.GetMigrationStatusResponse(progress=(await watch(a, "m1"))[-1])
    assert status.progress.phase == Phase.MIGRATION_PHASE_COMPLETED


async def test_watch_everything_sees_new_jobs(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, c) = cluster
    seen: dict[str, int] = {}

    async def consume() -> None:
        async for item in stub(a).WatchMigrationProgress(pb.WatchMigrationProgressRequest()):
            seen[item.progress.migration_id] = item.progress.phase
            if len(seen) == 2 and all(p == Phase.MIGRATION_PHASE_COMPLETED for p in seen.values()):
                return

    watcher = asyncio.create_task(consume())
    async with asyncio.timeout(30):  # the stream is subscribed before the jobs start
        while a.agent.feed.watcher_count == 0:
            await asyncio.sleep(0.01)
    await stub(a).Migrate(request(a, b, vm=0, mid="x1"))
    await stub(a).Migrate(request(a, c, vm=1, mid="x2"))
    async with asyncio.timeout(30):
        await watcher
    assert set(seen) == {"x1", "x2"}


async def test_many_agents_in_one_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fabric, agents = await start_fake_agents(
        20, 10, vm_memory_mib=1024, speed=50, state_root=str(tmp_path), max_outgoing=2
    )
    try:
        for i, agent in enumerate(agents):
            dst = agents[(i + 1) % len(agents)]
            for k in range(2):
                await stub(agent).Migrate(request(agent, dst, vm=k, mid=f"{agent.name}-{k}"))
        finals = await asyncio.gather(
            *(watch(agent, f"{agent.name}-{k}", 60) for agent in agents for k in range(2))
        )
        assert all(f[-1].phase == Phase.MIGRATION_PHASE_COMPLETED for f in finals)
        assert sum(len(h.domains) for h in fabric.hosts.values()) == 200
    finally:
        await stop_fake_agents(agents, grace=0)


async def test_stopping_removes_the_state_root_made_for_the_agents() -> None:
    _, agents = await start_fake_agents(2)
    root = agents[0].temporary_state_root
    assert root and os.path.isdir(f"{root}/host1")
    await stop_fake_agents(agents, grace=0)
    assert not os.path.exists(root)


LOCAL_DISK = VmDisk("vda", DiskKind.LOCAL, 128 * MIB, "qcow2", "/var/lib/libvirt/images/l.qcow2")
SHARED_DISK = VmDisk("vdb", DiskKind.SHARED, 64 * MIB, "raw", "nbd://10.0.0.1:10809/s-vdb")


async def test_vms_list_their_disks_and_vnics(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, _, _) = cluster
    nic = VmNic("prod-vlan", "52:54:00:12:34:56")
    vm = a.host.add_domain("with-devices", disks=(LOCAL_DISK, SHARED_DISK), nics=(nic,))
    vms = (await stub(a).ListVms(pb.ListVmsRequest())).vms
    listed = next(v for v in vms if v.id == vm)
    assert [(d.target, d.kind, d.size_bytes, d.format, d.source) for d in listed.disks] == [
        ("vda", common_pb2.DISK_KIND_LOCAL, 128 * MIB, "qcow2", LOCAL_DISK.source),
        ("vdb", common_pb2.DISK_KIND_SHARED, 64 * MIB, "raw", SHARED_DISK.source),
    ]
    assert [(n.network, n.mac) for n in listed.nics] == [(nic.network, nic.mac)]


async def test_a_local_disk_is_refused_unless_copied(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _) = cluster
    vm = a.host.add_domain("local-disk", memory_mib=64, disks=(LOCAL_DISK,))
    req = request(a, b, mid="local")
    req.vm_id = vm
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub(a).Migrate(req)
    said = error_details(refused.value.trailing_metadata())
    assert refused.value.code() == INVALID
    assert [f for f, _ in said.field_violations] == [COPY_LOCAL_DISKS_FIELD]
    assert "vda" in refused.value.details() and LOCAL_DISK.source in refused.value.details()
    assert vm in a.host.domains and vm not in b.host.domains


async def test_a_local_disk_is_copied_and_counted_in_the_progress(cluster) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _) = cluster
    vm = a.host.add_domain("copied", memory_mib=64, disks=(LOCAL_DISK, SHARED_DISK))
    req = request(a, b, mid="copy", copy_local_disks=True)
    req.vm_id = vm
    await stub(a).Migrate(req)
    samples = await watch(a, "copy")
    final = samples[-1]
    assert final.phase == common_pb2.MIGRATION_PHASE_COMPLETED, final.error
    assert final.disk_total_bytes == LOCAL_DISK.size_bytes  # the shared disk is not copied
    assert final.data_total_bytes == LOCAL_DISK.size_bytes + 64 * MIB
    during = [s for s in samples if 0 < s.disk_processed_bytes < s.disk_total_bytes]
    assert during, "no sample while the disk was copied"
    assert all(s.data_total_bytes >= LOCAL_DISK.size_bytes + 64 * MIB for s in during)
    percents = [s.progress_percent for s in samples]
    assert percents == sorted(percents) and percents[-1] == 100
    assert vm in b.host.domains


async def test_every_integer_extreme_of_every_request_is_judged_never_a_crash(  # type: ignore[no-untyped-def]
    cluster,
) -> None:
    _, (a, b, _) = cluster
    valid = request(a, b, mid="extreme")

    def fill(message) -> None:  # type: ignore[no-untyped-def]
        if message.DESCRIPTOR.name == "MigrateRequest":
            message.CopyFrom(valid)
        elif "migration_id" in message.DESCRIPTOR.fields_by_name:
            message.migration_id = "extreme"

    cases = list(extreme_requests(pb.DESCRIPTOR.services_by_name["AgentService"], fill))
    assert {case.method for case in cases} >= {"Migrate", "MigrateChangeParams"}
    failures = []
    for case in cases:
        call = getattr(stub(a), case.method)(case.request)
        try:
            if case.server_streaming:
                await asyncio.wait_for(call.read(), timeout=1)
            else:
                await call
            code, details = grpc.StatusCode.OK, ""
        except grpc.aio.AioRpcError as error:
            code, details = error.code(), error.details() or ""
        except TimeoutError:
            code, details = grpc.StatusCode.OK, ""
        finally:
            if case.server_streaming:
                call.cancel()
        if code == grpc.StatusCode.OK and case.method == "Migrate":
            # An accepted extreme started a real job: end it before the next case.
            await stub(a).MigrateCancel(pb.MigrateCancelRequest(migration_id="extreme"))
            await watch(a, "extreme")
        wrong = code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) or (
            case.out_of_range
            and (code != grpc.StatusCode.INVALID_ARGUMENT or case.field_path not in details)
        )
        if wrong:
            failures.append(f"{case.method} {case.field_path}={case.value}: {code.name} {details}")
    assert failures == []
