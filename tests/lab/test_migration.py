"""Live migration between lab hosts, with real libvirt and QEMU: which network carries it.

Byte counters on each host's `mgmt0` and `mig0` (read inside its namespace) prove the path.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import libvirt
import pytest

from miglane.lab import Lab, LabError, Network
from miglane.lab.guest import (
    STATUS_ADDR,
    STATUS_PASSES_OFFSET,
    STATUS_PHASE_OFFSET,
    GuestPhase,
    page_marker,
    sample_pages,
)
from miglane.lab.status import HostStatus

pytestmark = pytest.mark.lab

MIB = 1024 * 1024
LITTLE = 1 * MIB  # what the network not chosen may carry during a migration (keepalives, ARP)
MIGRATE_FLAGS = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # handled errors stay quiet


@contextlib.contextmanager
def connect(host: HostStatus) -> Iterator[libvirt.virConnect]:
    conn = libvirt.open(host.libvirt_uri)
    try:
        yield conn
    finally:
        conn.close()


def migrate(source: HostStatus, dest: HostStatus, name: str, uri: str) -> float:
    """PEER2PEER live migration driven by the source daemon, as the agent does it: control
    over the destination's management address, QEMU's stream to `uri`. Returns seconds."""
    with connect(source) as conn:
        dom = conn.lookupByName(name)
        started = time.monotonic()
        dom.migrateToURI3(dest.peer_uri, {libvirt.VIR_MIGRATE_PARAM_URI: uri}, MIGRATE_FLAGS)
        return time.monotonic() - started


def peek(dom: libvirt.virDomain, addr: int) -> int:
    return int.from_bytes(dom.memoryPeek(addr, 4, libvirt.VIR_MEMORY_PHYSICAL), "little")


def running_on(host: HostStatus, name: str) -> bool:
    with connect(host) as conn:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            return False
        return bool(dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING)


class Traffic:
    """Bytes each host's NICs moved while the block ran: traffic[host, network] = rx + tx."""

    def __init__(self, lab: Lab, hosts: list[str]) -> None:
        self.lab, self.hosts = lab, hosts
        self.delta: dict[tuple[str, Network], int] = {}

    def _read(self) -> dict[tuple[str, Network], int]:
        return {(h, n): sum(self.lab.nic_counters(h, n)) for h in self.hosts for n in Network}

    @contextlib.contextmanager
    def measure(self) -> Iterator[Traffic]:
        before = self._read()
        yield self
        after = self._read()
        self.delta = {key: after[key] - before[key] for key in after}

    def __getitem__(self, key: tuple[str, Network]) -> int:
        return self.delta[key]


@pytest.fixture
def guest(lab: Lab, request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique guest name; whichever host it ends up on, it is gone after the test."""
    name = f"t-{request.node.name.split('[')[0][-40:].replace('_', '-')}"
    yield name
    for host in lab.status().hosts:
        with contextlib.suppress(LabError):  # not on that host
            lab.destroy_vm(host.name, name)


@pytest.fixture
def cut_links(lab: Lab) -> Iterator[list[tuple[str, Network]]]:
    """Links a test cuts; all plugged back in afterwards."""
    cut: list[tuple[str, Network]] = []
    yield cut
    for host, network in cut:
        lab.set_link(host, network, True)


def test_live_migration_over_the_migration_network(lab: Lab, guest: str) -> None:
    memory = 256
    status = lab.status()
    source, dest = status.host("host1"), status.host("host2")
    lab.create_vm("host1", guest, memory_mib=memory)
    pages = sample_pages(memory)
    with connect(source) as conn:
        dom = conn.lookupByName(guest)
        assert [peek(dom, a) for a in pages] == [page_marker(a) for a in pages]

    with Traffic(lab, ["host1", "host2"]).measure() as traffic:
        migrate(source, dest, guest, dest.migration_uri)

    assert running_on(dest, guest)
    with connect(source) as conn:
        assert guest not in [d.name() for d in conn.listAllDomains()]
    with connect(dest) as conn:
        dom = conn.lookupByName(guest)
        assert [peek(dom, a) for a in pages] == [page_marker(a) for a in pages]
        assert peek(dom, STATUS_ADDR + STATUS_PHASE_OFFSET) == GuestPhase.HALTED
    assert traffic["host1", Network.MIG] >= memory * MIB
    assert traffic["host2", Network.MIG] >= memory * MIB
    assert traffic["host1", Network.MGMT] < LITTLE
    assert traffic["host2", Network.MGMT] < LITTLE


def test_dirtying_guest_keeps_running_after_migration(lab: Lab, guest: str) -> None:
    status = lab.status()
    lab.create_vm("host2", guest, memory_mib=64, dirty_mib=4)
    lab.wait_guest("host2", guest, GuestPhase.DIRTYING)
    migrate(status.host("host2"), status.host("host3"), guest, status.host("host3").migration_uri)
    with connect(status.host("host3")) as conn:
        dom = conn.lookupByName(guest)
        passes = peek(dom, STATUS_ADDR + STATUS_PASSES_OFFSET)
        assert peek(dom, STATUS_ADDR + STATUS_PHASE_OFFSET) == GuestPhase.DIRTYING
        # A loaded machine may not schedule the guest at once: give it time to make a pass.
        deadline = time.monotonic() + 10
        while (
            peek(dom, STATUS_ADDR + STATUS_PASSES_OFFSET) == passes and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert peek(dom, STATUS_ADDR + STATUS_PASSES_OFFSET) > passes


@pytest.mark.parametrize("cut_host", ["host1", "host2"], ids=["source-cut", "destination-cut"])
def test_migration_fails_while_the_migration_link_is_cut(
    lab: Lab, guest: str, cut_links: list[tuple[str, Network]], cut_host: str
) -> None:
    status = lab.status()
    source, dest = status.host("host1"), status.host("host2")
    lab.create_vm("host1", guest, memory_mib=64)
    lab.set_link(cut_host, Network.MIG, False)
    cut_links.append((cut_host, Network.MIG))
    assert not lab.status().host(cut_host).link(Network.MIG).up

    with (
        Traffic(lab, ["host1", "host2"]).measure() as traffic,
        pytest.raises(libvirt.libvirtError, match=r"unable to connect|unreachable"),
    ):
        migrate(source, dest, guest, dest.migration_uri)

    assert running_on(source, guest)
    assert not running_on(dest, guest)
    assert traffic["host2", Network.MIG] < LITTLE


def test_migration_aimed_at_the_management_address_goes_over_mgmt0(
    lab: Lab, guest: str, cut_links: list[tuple[str, Network]]
) -> None:
    memory = 128
    status = lab.status()
    source, dest = status.host("host3"), status.host("host1")
    lab.create_vm("host3", guest, memory_mib=memory)
    lab.set_link("host3", Network.MIG, False)  # the fallback works without the migration network
    cut_links.append(("host3", Network.MIG))

    with Traffic(lab, ["host3", "host1"]).measure() as traffic:
        migrate(source, dest, guest, f"tcp://{dest.mgmt_addr}")

    assert running_on(dest, guest)
    assert not running_on(source, guest)
    assert traffic["host3", Network.MGMT] >= memory * MIB
    assert traffic["host1", Network.MGMT] >= memory * MIB
    assert traffic["host3", Network.MIG] < LITTLE
    assert traffic["host1", Network.MIG] < LITTLE


def test_a_capped_migration_link_slows_the_migration(lab: Lab, guest: str) -> None:
    memory, mbit = 64, 400
    status = lab.status()
    source, dest = status.host("host2"), status.host("host3")
    lab.create_vm("host2", guest, memory_mib=memory)
    lab.set_rate(Network.MIG, mbit)
    try:
        assert lab.status().host("host3").link(Network.MIG).rate_mbit == mbit
        with Traffic(lab, ["host3"]).measure() as traffic:
            seconds = migrate(source, dest, guest, dest.migration_uri)
    finally:
        lab.set_rate(Network.MIG, None)
    carried = traffic["host3", Network.MIG]
    assert carried >= memory * MIB
    assert carried * 8 / seconds <= mbit * 1_000_000 * 1.1
    assert lab.status().host("host3").link(Network.MIG).rate_mbit is None
