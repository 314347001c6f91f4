"""The agent over real libvirt + QEMU on the lab (root; marker `lab` through the fixture).

An in-process agent serves host1 (its libvirtd over the unix socket, its gRPC on 127.0.0.1:0,
mutual TLS with host1's credentials from a CA of the test's); the restart test runs a real
`miglane agent --credentials` process inside host1's network namespace. Calls carry the engine's
identity of that CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from agent_support import AgentTarget, agent_stub, unique_name, watch_progress
from google.protobuf.duration_pb2 import Duration

from miglane.agent.domain.model import MIB
from miglane.agent.service import DEFAULT_MAX_OUTGOING
from miglane.pki import CertificateAuthority, load_credentials
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import common_pb2

if TYPE_CHECKING:
    from miglane.lab import Lab, LabStatus

pytestmark = pytest.mark.usefixtures("agent_channels")

Phase = common_pb2.MigrationPhase
RESTART_AGENT_PORT = 50071


@dataclass
class LabAgent:
    lab: Lab
    status: LabStatus
    address: str
    vms: list[str]
    authority: CertificateAuthority
    save_dir: str = ""

    @property
    def credentials_dir(self) -> Path:
        return self.authority.layout.host(self.h1.name)

    def at(self, address: str) -> AgentTarget:
        """host1's agent at `address`, called with the engine's identity."""
        caller = load_credentials(self.authority.layout.engine)
        return AgentTarget(address, self.h1.name, caller)

    @property
    def target(self) -> AgentTarget:
        return self.at(self.address)

    @property
    def h1(self):  # type: ignore[no-untyped-def]
        return self.status.hosts[0]

    @property
    def h2(self):  # type: ignore[no-untyped-def]
        return self.status.hosts[1]

    def make_vm(self, memory_mib: int = 128, dirty_mib: int = 0) -> str:
        name = unique_name("agl")
        self.lab.create_vm(self.h1.name, name, memory_mib=memory_mib, dirty_mib=dirty_mib)
        self.vms.append(name)
        return name

    def vm_uuid(self, name: str) -> str:
        from miglane.agent.libvirt_driver import LibvirtDriver

        driver = LibvirtDriver(self.h1.libvirt_uri)
        try:
            return next(d.id for d in driver.list_domains() if d.name == name)
        finally:
            driver.close()

    def where(self, name: str) -> set[str]:
        return {vm.host for vm in self.lab.list_vms() if vm.name == name and vm.state == "running"}

    def request(self, name: str, mid: str, mibps: int = 32, **kw) -> pb.MigrateRequest:  # type: ignore[no-untyped-def]
        return pb.MigrateRequest(
            migration_id=mid,
            vm_id=self.vm_uuid(name),
            live=pb.LiveTarget(dst=self.h2.peer_uri, migration_uri=self.h2.migration_uri),
            max_bandwidth_mib_per_second=mibps,
            **kw,
        )


@pytest.fixture
async def lab_agent(lab: Lab, tmp_path) -> AsyncIterator[LabAgent]:  # type: ignore[no-untyped-def]
    from miglane.agent.grpc_api.server import create_server
    from miglane.agent.libvirt_driver import LibvirtDriver
    from miglane.agent.service import Agent
    from miglane.lab import LabError

    status = lab.status()
    h1 = status.hosts[0]
    authority = CertificateAuthority.init(tmp_path / "pki")
    authority.issue_host(h1.name, [h1.mgmt_addr, h1.mig_addr, "127.0.0.1"])
    driver = LibvirtDriver(
        h1.libvirt_uri, qemu_tls_dir=h1.qemu_tls_dir, client_pki_dir=h1.client_pki_dir
    )
    agent = Agent(
        driver,
        peer_uri=h1.peer_uri,
        state_dir=str(tmp_path),
        save_dir=str(tmp_path / "saves"),
        poll_interval=0.25,
    )
    await agent.start()
    credentials_dir = authority.layout.host(h1.name)
    server, port = await create_server(agent, "127.0.0.1:0", credentials_dir=credentials_dir)
    la = LabAgent(lab, status, f"127.0.0.1:{port}", [], authority, agent.saves.path)
    try:
        yield la
    finally:
        await server.stop(0)
        await agent.stop()
        driver.close()
        for name in la.vms:
            for host in (la.h1.name, la.h2.name):
                with contextlib.suppress(LabError):  # not on that host
                    lab.destroy_vm(host, name)


async def watch(target: AgentTarget, mid: str, timeout: float = 60) -> list[pb.MigrationProgress]:
    return await watch_progress(target, mid, timeout)


async def until_copied(target: AgentTarget, mid: str, at_least: int, timeout: float = 30) -> None:
    """Returns once the migration has copied `at_least` bytes (it is under way, not set up)."""
    request = pb.GetMigrationStatusRequest(migration_id=mid)
    async with asyncio.timeout(timeout):
        while True:
            progress = (await agent_stub(target).GetMigrationStatus(request)).progress
            assert progress.phase == Phase.MIGRATION_PHASE_RUNNING, progress.error
            if progress.data_processed_bytes >= at_least:
                return
            await asyncio.sleep(0.05)


def observed(s: pb.MigrationProgress) -> float:
    return s.observed_at.seconds + s.observed_at.nanos / 1e9


def measured_rate(samples: list[pb.MigrationProgress]) -> float:
    """Bytes/s between the first and the last sample of the capped copy: once no data remains,
    the guest is paused for its last pages, which QEMU sends unthrottled to cut the downtime."""
    copying = [
        s
        for s in samples
        if s.phase == Phase.MIGRATION_PHASE_RUNNING and s.iteration and s.data_remaining_bytes
    ]
    first, last = copying[0], copying[-1]
    return (last.data_processed_bytes - first.data_processed_bytes) / (
        observed(last) - observed(first)
    )


async def test_migration_at_the_cap(lab_agent: LabAgent) -> None:
    la = lab_agent
    name = la.make_vm(128)
    tx_before = la.lab.nic_counters(la.h1.name, "mig").tx_bytes
    await agent_stub(la.target).Migrate(la.request(name, "cap", 32))
    samples = await watch(la.target, "cap")
    final = samples[-1]
    assert final.phase == Phase.MIGRATION_PHASE_COMPLETED, final.error
    percents = [s.progress_percent for s in samples]
    assert percents == sorted(percents) and percents[-1] == 100
    assert max(percents[:-1]) <= 99
    assert measured_rate(samples) == pytest.approx(32 * MIB, rel=0.10)
    assert la.lab.nic_counters(la.h1.name, "mig").tx_bytes - tx_before >= 128 * MIB
    assert final.downtime.ToMilliseconds() > 0 and final.data_processed_bytes >= 120 * MIB
    assert la.where(name) == {la.h2.name}


async def test_bandwidth_change_mid_flight(lab_agent: LabAgent) -> None:
    la = lab_agent
    name = la.make_vm(128)
    await agent_stub(la.target).Migrate(la.request(name, "change", 16))
    await until_copied(la.target, "change", 16 * MIB)  # a second's worth at the first cap
    changed_at = time.time()
    await agent_stub(la.target).MigrateChangeParams(
        pb.MigrateChangeParamsRequest(migration_id="change", max_bandwidth_mib_per_second=64)
    )
    samples = await watch(la.target, "change")
    assert samples[-1].phase == Phase.MIGRATION_PHASE_COMPLETED
    after = [s for s in samples if observed(s) > changed_at + 0.5 and s.iteration]
    assert after, "no sample after the change"
    assert measured_rate(after) == pytest.approx(64 * MIB, rel=0.15)


async def test_cancel_keeps_the_guest_on_the_source(lab_agent: LabAgent) -> None:
    la = lab_agent
    name = la.make_vm(128)
    await agent_stub(la.target).Migrate(la.request(name, "cancel", 16))
    await until_copied(la.target, "cancel", 1)
    reply = await agent_stub(la.target).MigrateCancel(
        pb.MigrateCancelRequest(migration_id="cancel")
    )
    assert reply.progress.phase == Phase.MIGRATION_PHASE_CANCELLED
    assert la.where(name) == {la.h1.name}
    assert name not in {vm.name for vm in la.lab.list_vms(la.h2.name)}


async def test_schedule_aborts_a_guest_dirtying_more_than_the_cap(lab_agent: LabAgent) -> None:
    la = lab_agent
    name = la.make_vm(64, dirty_mib=48)
    schedule = common_pb2.ConvergenceSchedule(
        stalling=[
            common_pb2.ConvergenceStep(
                stalled_iterations=1,
                action=common_pb2.CONVERGENCE_ACTION_SET_DOWNTIME,
                downtime=Duration(nanos=50 * 1_000_000),
            ),
            common_pb2.ConvergenceStep(
                stalled_iterations=2, action=common_pb2.CONVERGENCE_ACTION_ABORT
            ),
        ]
    )
    await agent_stub(la.target).Migrate(
        la.request(name, "dirty", 32, convergence_schedule=schedule)
    )
    samples = await watch(la.target, "dirty")
    final = samples[-1]
    assert final.phase == Phase.MIGRATION_PHASE_FAILED
    assert final.failure_kind == pb.MIGRATION_FAILURE_KIND_NOT_CONVERGING
    assert "convergence schedule" in final.error
    assert max(s.dirty_rate_bytes_per_second for s in samples) > 0
    assert la.where(name) == {la.h1.name}


# A set the lab's page sampling can see: 512 sampled pages per GiB put ~16 of them in 32 MiB (a
# 4 MiB set gets ~2, and a calculation often sees none: too few to tell a bound reliably).
WORKING_SET_MIB = 32


async def test_a_guest_rewriting_a_working_set_reports_it(lab_agent: LabAgent) -> None:
    la = lab_agent
    rewriting, idle = la.make_vm(128, dirty_mib=WORKING_SET_MIB), la.make_vm(128)
    ids = {la.vm_uuid(rewriting): rewriting, la.vm_uuid(idle): idle}
    stub = agent_stub(la.target)
    since = time.time()
    reported: dict[str, pb.AgentVm] = {}
    deadline = time.monotonic() + 120
    # Until the agent's background turns measured both after they were running (a guest's
    # boot fills its memory once), the rewriting one with a bounded set (page sampling's noise
    # may hide it in a turn: the rule only calls a set bounded when the long period clearly
    # shows it).
    while time.monotonic() < deadline:
        for vm in (await stub.ListVms(pb.ListVmsRequest())).vms:
            if vm.id in ids and vm.dirty_rate_measured_at.ToSeconds() - 5 >= since:
                reported[ids[vm.id]] = vm
        if len(reported) == 2 and reported[rewriting].dirty_working_set_bytes:
            break
        await asyncio.sleep(1)
    assert set(reported) == {rewriting, idle}
    # Its set, within what sampling 2 MiB a page and libvirt's whole MiB/s allow.
    assert reported[rewriting].dirty_rate_bytes_per_second > 0
    assert (
        WORKING_SET_MIB // 2 * MIB
        <= reported[rewriting].dirty_working_set_bytes
        <= 2 * WORKING_SET_MIB * MIB
    )
    # A guest that dirties nothing has no working set to report.
    assert reported[idle].dirty_rate_bytes_per_second == 0
    assert reported[idle].dirty_working_set_bytes == 0


async def test_hibernate_and_restore(lab_agent: LabAgent) -> None:
    la = lab_agent
    name = la.make_vm(64)
    outside = str(la.lab.base_dir / f"{name}.save")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await agent_stub(la.target).Migrate(
            pb.MigrateRequest(
                migration_id="hib-outside",
                vm_id=la.vm_uuid(name),
                hibernation=pb.HibernationTarget(path=outside),
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert not os.path.exists(outside) and la.where(name) == {la.h1.name}
    await agent_stub(la.target).Migrate(
        pb.MigrateRequest(
            migration_id="hib", vm_id=la.vm_uuid(name), hibernation=pb.HibernationTarget()
        )
    )
    samples = await watch(la.target, "hib")
    assert samples[-1].phase == Phase.MIGRATION_PHASE_COMPLETED, samples[-1].error
    path = samples[-1].dst
    assert os.path.dirname(path) == la.save_dir
    assert os.path.getsize(path) >= 60 * MIB
    assert la.where(name) == set()
    restored = await agent_stub(la.target).Restore(pb.RestoreRequest(path=path))
    assert restored.vm.name == name and restored.vm.state == common_pb2.VM_STATE_RUNNING
    assert la.where(name) == {la.h1.name}
    os.unlink(path)


async def test_a_migration_beyond_the_outgoing_limit_is_refused(lab_agent: LabAgent) -> None:
    la = lab_agent
    names = [la.make_vm(64) for _ in range(DEFAULT_MAX_OUTGOING + 1)]
    for k in range(DEFAULT_MAX_OUTGOING):
        await agent_stub(la.target).Migrate(la.request(names[k], f"c{k}", 4))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await agent_stub(la.target).Migrate(la.request(names[-1], "over", 4))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    for k in range(DEFAULT_MAX_OUTGOING):
        await agent_stub(la.target).MigrateCancel(pb.MigrateCancelRequest(migration_id=f"c{k}"))
    assert all(la.where(n) == {la.h1.name} for n in names)


def start_agent_process(la: LabAgent, state_dir: str, log_path: str) -> subprocess.Popen:  # type: ignore[type-arg]
    argv = [
        sys.executable, "-m", "miglane.cli.main", "agent",
        "--listen", f"{la.h1.mgmt_addr}:{RESTART_AGENT_PORT}",
        "--libvirt-uri", la.h1.libvirt_uri,
        "--state-dir", state_dir,
        "--save-dir", f"{state_dir}/saves",
        "--poll-interval", "0.25",
        "--credentials", str(la.credentials_dir),
    ]  # fmt: skip
    log = open(log_path, "ab")  # noqa: SIM115 - the child keeps it
    process = la.lab.run_in_host(la.h1.name, argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((la.h1.mgmt_addr, RESTART_AGENT_PORT), timeout=0.5),
        ):
            return process
        assert process.poll() is None, Path(log_path).read_text()
        time.sleep(0.1)
    raise AssertionError(f"agent did not listen: {Path(log_path).read_text()}")


async def test_agent_killed_mid_migration_resumes_it(lab_agent: LabAgent, tmp_path) -> None:  # type: ignore[no-untyped-def]
    la = lab_agent
    name = la.make_vm(128)
    state_dir, log_path = str(tmp_path / "state"), str(tmp_path / "agent.log")
    address = la.at(f"{la.h1.mgmt_addr}:{RESTART_AGENT_PORT}")
    first = start_agent_process(la, state_dir, log_path)
    try:
        await agent_stub(address).Migrate(la.request(name, "survivor", 16))
        await until_copied(address, "survivor", 16 * MIB)
        before = await agent_stub(address).GetMigrationStatus(
            pb.GetMigrationStatusRequest(migration_id="survivor")
        )
        assert before.progress.phase == Phase.MIGRATION_PHASE_RUNNING
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    second = start_agent_process(la, state_dir, log_path)
    try:
        status = await agent_stub(address).GetMigrationStatus(
            pb.GetMigrationStatusRequest(migration_id="survivor")
        )
        assert status.progress.progress_percent >= before.progress.progress_percent
        samples = await watch(address, "survivor")
        assert samples[-1].phase == Phase.MIGRATION_PHASE_COMPLETED, samples[-1].error
        assert la.where(name) == {la.h2.name}
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(10)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait(5)
