"""One contract for every HypervisorDriver: the fake always, libvirt + QEMU on the lab."""

from __future__ import annotations

import os
import re
import threading

import pytest
from agent_support import Hypervisors, wait_for

from miglane.agent.domain.model import MIB, DiskKind, JobStats, VmState
from miglane.agent.driver import DriverError, DriverErrorKind, MigrationParams

UNKNOWN_UUID = "00000000-0000-4000-8000-00000000dead"
MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
DIRTY_RATE_CALC_S = 1
IDLE_DIRTY_RATE_MAX_BPS = 2 * MIB


class Call:
    """A blocking driver call on a thread, as the agent runs migrate and save."""

    def __init__(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        self.error: DriverError | None = None
        self.thread = threading.Thread(target=self._run, args=(fn, *args), daemon=True)
        self.thread.start()

    def _run(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            fn(*args)
        except DriverError as e:
            self.error = e

    def join(self, timeout: float = 60) -> DriverError | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the call did not return"
        return self.error


def params(hv: Hypervisors, mibps: int | None = 32, **kw: object) -> MigrationParams:
    kw.setdefault("tls_destination", hv.dst_tls_name)
    return MigrationParams(hv.dst_peer_uri, hv.dst_migration_uri, mibps, **kw)  # type: ignore[arg-type]


def copying(hv: Hypervisors, vm_id: str) -> bool:
    stats = hv.src.job_stats(vm_id)
    return stats is not None and stats.data_processed > 0 and stats.memory_bps > 0


def test_host_facts_and_domains(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    facts = hv.src.host_facts()
    assert facts.host_uuid and facts.cpus > 0 and facts.memory_mib > 0
    assert facts.libvirt_version.count(".") == 2
    vm = hv.make_vm(64)
    info = hv.src.domain(vm)
    assert (info.id, info.state, info.memory_mib) == (vm, VmState.RUNNING, 64)
    assert vm in {d.id for d in hv.src.list_domains()}
    with pytest.raises(DriverError) as e:
        hv.src.domain(UNKNOWN_UUID)
    assert e.value.kind is DriverErrorKind.NO_DOMAIN
    assert hv.src.job_stats(vm) is None


def test_check_peer(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    hv.src.check_peer(hv.dst_peer_uri)
    for uri in (hv.src_peer_uri, hv.unreachable_peer_uri):
        with pytest.raises(DriverError) as e:
            hv.src.check_peer(uri)
        assert e.value.kind is DriverErrorKind.DESTINATION


def test_migrate_moves_the_guest_at_the_cap(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    vm = hv.make_vm(64)
    call = Call(hv.src.migrate, vm, params(hv, 32))
    assert wait_for(lambda: copying(hv, vm), 10)
    stats = hv.src.job_stats(vm)
    assert stats is not None
    assert stats.data_total >= 64 * MIB
    assert stats.iteration >= 1
    assert vm in hv.src.outgoing_jobs()

    def at_the_cap() -> bool:
        # libvirt measures the rate over QEMU's last period, which a busy machine can slow.
        now = hv.src.job_stats(vm)
        return now is not None and now.memory_bps == pytest.approx(32 * MIB, rel=0.05)

    assert wait_for(at_the_cap, 5)
    assert call.join() is None
    assert hv.dst.domain(vm).state is VmState.RUNNING
    assert hv.src.arrived_at(vm, hv.dst_peer_uri)
    assert hv.src.outgoing_jobs() == []
    final = hv.src.completed_job_stats(vm, hv.dst_peer_uri)
    assert final is not None
    assert final.data_processed >= 60 * MIB
    assert final.downtime_ms > 0


def test_abort_keeps_the_guest_on_the_source(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    vm = hv.make_vm(64)
    call = Call(hv.src.migrate, vm, params(hv, 8))
    assert wait_for(lambda: copying(hv, vm), 10)
    hv.src.abort(vm)
    error = call.join(10)
    assert error is not None and error.kind is DriverErrorKind.CANCELLED
    assert hv.src.domain(vm).state is VmState.RUNNING
    assert vm not in {d.id for d in hv.dst.list_domains()}
    assert not hv.src.arrived_at(vm, hv.dst_peer_uri)
    with pytest.raises(DriverError) as e:
        hv.src.abort(vm)
    assert e.value.kind is DriverErrorKind.NO_JOB


def test_bandwidth_changes_mid_flight(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    vm = hv.make_vm(128)
    call = Call(hv.src.migrate, vm, params(hv, 8))
    assert wait_for(lambda: copying(hv, vm), 10)
    hv.src.set_max_speed(vm, 64)
    hv.src.set_max_downtime(vm, 500)

    def rate_followed() -> bool:
        stats = hv.src.job_stats(vm)
        return stats is not None and stats.memory_bps == pytest.approx(64 * MIB, rel=0.05)

    assert wait_for(rate_followed, 5)  # libvirt measures the rate over QEMU's last period
    assert call.join() is None


def test_encrypted_migration(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    vm = hv.make_vm(64)
    assert Call(hv.src.migrate, vm, params(hv, None, encrypted=True)).join() is None
    assert hv.dst.domain(vm).state is VmState.RUNNING
    assert hv.src.arrived_at(vm, hv.dst_peer_uri)


@pytest.mark.parametrize("lacking", ["src", "dst"])
def test_encrypted_migration_from_or_to_a_host_without_certificates_is_refused(
    hypervisors: Hypervisors, lacking: str
) -> None:
    hv = hypervisors
    vm = hv.make_vm(64)
    with hv.without_tls(lacking):
        error = Call(hv.src.migrate, vm, params(hv, 32, encrypted=True)).join()
    assert error is not None and error.kind is DriverErrorKind.TLS_NOT_CONFIGURED
    # it says which host lacks what
    if lacking == "src":
        assert "this host" in error.message and "server-cert.pem" in error.message
    else:
        assert f"destination {hv.dst_tls_name}" in error.message
    # refused before it started: the guest runs on at the source, nothing at the destination
    assert hv.src.domain(vm).state is VmState.RUNNING
    assert vm not in {d.id for d in hv.dst.list_domains()}


def test_unknown_domain(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    error = Call(hv.src.migrate, UNKNOWN_UUID, params(hv)).join()
    assert error is not None and error.kind is DriverErrorKind.NO_DOMAIN


def test_save_and_restore(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    vm = hv.make_vm(64)
    path = os.path.join(hv.save_dir, f"{vm}.save")
    assert Call(hv.src.save, vm, path).join() is None
    assert os.path.exists(path)
    assert vm not in {d.id for d in hv.src.list_domains() if d.state is VmState.RUNNING}
    info = hv.src.restore(path)
    assert (info.id, info.state) == (vm, VmState.RUNNING)
    with pytest.raises(DriverError) as e:
        hv.src.restore(os.path.join(hv.save_dir, "missing.save"))
    assert e.value.kind is DriverErrorKind.NOT_FOUND


def test_post_copy_finishes_the_migration(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    vm = hv.make_vm(64, dirty_mib=32)
    call = Call(hv.src.migrate, vm, params(hv, 16, post_copy_allowed=True))
    assert wait_for(lambda: copying(hv, vm), 10)
    hv.src.start_post_copy(vm)
    assert call.join(30) is None
    assert hv.dst.domain(vm).state is VmState.RUNNING


def test_post_copy_needs_the_flag(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    vm = hv.make_vm(64)
    call = Call(hv.src.migrate, vm, params(hv, 8))
    assert wait_for(lambda: copying(hv, vm), 10)
    with pytest.raises(DriverError):
        hv.src.start_post_copy(vm)
    hv.src.abort(vm)
    call.join()


VM_NETWORK = "vmnet-c"
DISK_MIB = 16


def test_disks_and_vnics_are_reported(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    vm = hv.make_vm_with_devices((f"local:{DISK_MIB}M", f"shared:{DISK_MIB}M"), (VM_NETWORK,))
    info = hv.src.domain(vm)
    assert [(d.target, d.kind, d.size_bytes, d.format) for d in info.disks] == [
        ("vda", DiskKind.LOCAL, DISK_MIB * MIB, "raw"),
        ("vdb", DiskKind.SHARED, DISK_MIB * MIB, "raw"),
    ]
    assert info.disks[0].source.endswith("-vda.raw")
    assert info.disks[1].source
    assert info.local_disks == info.disks[:1]
    assert [n.network for n in info.nics] == [VM_NETWORK]
    assert MAC.match(info.nics[0].mac)
    listed = next(d for d in hv.src.list_domains() if d.id == vm)
    assert (listed.disks, listed.nics) == (info.disks, info.nics)


def test_a_local_disk_is_never_left_behind(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    vm = hv.make_vm_with_devices((f"local:{DISK_MIB}M",))
    with pytest.raises(DriverError):
        hv.src.migrate(vm, params(hv))
    assert hv.src.domain(vm).state is VmState.RUNNING
    assert vm not in {d.id for d in hv.dst.list_domains()}


def test_a_local_disk_is_copied_with_the_migration(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    vm = hv.make_vm_with_devices((f"local:{DISK_MIB}M",))
    disks = hv.src.domain(vm).disks
    copy = params(hv, 8, copy_disks=("vda",), disks_uri=hv.dst_migration_uri)
    call = Call(hv.src.migrate, vm, copy)
    samples: list[JobStats] = []

    def disk_copied() -> bool:
        stats = hv.src.job_stats(vm)
        samples.extend([stats] if stats is not None else [])
        return stats is not None and stats.disk_processed > 0

    assert wait_for(disk_copied, 10)
    hv.src.set_max_speed(vm, 256)
    assert call.join() is None
    assert hv.dst.domain(vm).state is VmState.RUNNING
    assert [(d.target, d.kind, d.size_bytes) for d in hv.dst.domain(vm).disks] == [
        (d.target, d.kind, d.size_bytes) for d in disks
    ]
    copying_disk = samples[-1]
    assert copying_disk.disk_total == DISK_MIB * MIB
    assert copying_disk.disk_processed + copying_disk.disk_remaining == copying_disk.disk_total
    assert copying_disk.data_total >= copying_disk.disk_total  # data_* include the disk


def measured_dirty_rate(hv: Hypervisors, vm: str) -> int:
    """Runs one calculation of DIRTY_RATE_CALC_S and waits for its result. On the lab, the
    session's agents measure every guest in the background too: while one of their
    calculations runs, libvirt refuses to start another, so the start is retried."""
    started: list[bool] = []

    def start() -> bool:
        try:
            hv.src.start_dirty_rate_calc(vm, DIRTY_RATE_CALC_S)
        except DriverError as error:
            if error.kind is DriverErrorKind.NO_DOMAIN:
                raise
            return False
        started.append(True)
        return True

    assert wait_for(start, DIRTY_RATE_CALC_S + 10)
    rates: list[int] = []

    def finished() -> bool:
        rate = hv.src.dirty_rate(vm)
        if rate is not None:
            rates.append(rate)
        return bool(rates)

    assert wait_for(finished, DIRTY_RATE_CALC_S + 10)
    return rates[0]


def test_dirty_rate_without_migrating(hypervisors: Hypervisors) -> None:
    hv = hypervisors
    hot = hv.make_vm(64, dirty_mib=32)
    idle = hv.make_vm(64)
    if hv.kind == "fake":  # on the lab, the session's agents may have measured it already
        assert hv.src.dirty_rate(hot) is None
    assert measured_dirty_rate(hv, hot) > 0
    # An idle guest still touches a few pages (kernel timers); nothing like a dirtying one.
    assert measured_dirty_rate(hv, idle) <= IDLE_DIRTY_RATE_MAX_BPS
    assert hv.src.job_stats(hot) is None
    with pytest.raises(DriverError) as e:
        hv.src.start_dirty_rate_calc(UNKNOWN_UUID, DIRTY_RATE_CALC_S)
    assert e.value.kind is DriverErrorKind.NO_DOMAIN
