"""Guests with disks and vNICs on the lab, migrated with plain libvirt calls: a shared (NBD) disk
migrates and its data reads back intact, a local disk is refused, a vNIC needs its bridge."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import libvirt
import pytest

from miglane.lab import Lab, LabError
from miglane.lab.devices import disk_serial
from miglane.lab.linux import LinuxPhase, check_pattern
from miglane.lab.status import HostStatus

pytestmark = pytest.mark.lab

MIGRATE_FLAGS = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
VM_NETWORK = "prod-vlan"

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # handled errors stay quiet


@contextlib.contextmanager
def connect(host: HostStatus) -> Iterator[libvirt.virConnect]:
    conn = libvirt.open(host.libvirt_uri)
    try:
        yield conn
    finally:
        conn.close()


def migrate(source: HostStatus, dest: HostStatus, name: str) -> None:
    """A plain PEER2PEER live migration over the destination's migration address."""
    with connect(source) as conn:
        dom = conn.lookupByName(name)
        params = {libvirt.VIR_MIGRATE_PARAM_URI: dest.migration_uri}
        dom.migrateToURI3(dest.peer_uri, params, MIGRATE_FLAGS)


def running_on(host: HostStatus, name: str) -> bool:
    with connect(host) as conn:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            return False
        return bool(dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING)


@pytest.fixture
def guest(lab: Lab, request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique guest name; whichever host it ends up on, it is gone after the test."""
    name = f"g-{request.node.name.split('[')[0][-40:].replace('_', '-')}"
    yield name
    for host in lab.status().hosts:
        with contextlib.suppress(LabError):  # not on that host
            lab.destroy_vm(host.name, name)


def test_linux_guest_on_a_shared_disk_migrates_with_its_data(lab: Lab, guest: str) -> None:
    status = lab.status()
    source, dest = status.host("host1"), status.host("host2")
    lab.create_vm("host1", guest, 128, dirty_mib=8, guest_os="linux", disks=["shared:32M"])
    image = lab.disk_image("host1", guest)
    assert check_pattern(image, disk_serial(guest, "vda")) == []

    migrate(source, dest, guest)

    assert running_on(dest, guest)
    assert not running_on(source, guest)
    assert lab.disk_image("host2", guest) == image  # the one export both hosts used
    assert check_pattern(image, disk_serial(guest, "vda")) == []
    assert LinuxPhase.DIRTYING.serial_line in lab.guest_console("host1", guest)


def test_a_local_disk_refuses_a_plain_live_migration(lab: Lab, guest: str) -> None:
    status = lab.status()
    source, dest = status.host("host2"), status.host("host3")
    lab.create_vm("host2", guest, 128, guest_os="linux", disks=["local:16M"])
    image = lab.disk_image("host2", guest)
    assert image.is_relative_to(status.host("host2").host_dir)  # the host's own
    assert image.stat().st_size == 16 * 1024 * 1024
    assert check_pattern(image, disk_serial(guest, "vda")) == []

    with pytest.raises(libvirt.libvirtError, match="shared storage"):
        migrate(source, dest, guest)

    assert running_on(source, guest)
    assert not running_on(dest, guest)


def test_a_vnic_migrates_only_to_hosts_with_its_bridge(lab: Lab, guest: str) -> None:
    lab.add_vm_network(VM_NETWORK, ["host1", "host3"])
    status = lab.status()
    source = status.host("host1")
    lab.create_vm("host1", guest, 64, nics=[VM_NETWORK])

    with pytest.raises(libvirt.libvirtError, match=VM_NETWORK):
        migrate(source, status.host("host2"), guest)
    assert running_on(source, guest)

    migrate(source, status.host("host3"), guest)
    assert running_on(status.host("host3"), guest)
    assert not running_on(source, guest)
