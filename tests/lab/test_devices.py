"""Guests' disks and vNICs: `--disk`/`--nic` parsing and the libvirt XML they become (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from miglane.lab.configs import render_domain_xml
from miglane.lab.devices import (
    MAX_DISKS,
    DiskKind,
    DiskSpec,
    parse_disk,
    parse_size,
    plan_disks,
    render_disk_xml,
    render_nic_xml,
    validate_bridge_name,
)
from miglane.lab.errors import LabError
from miglane.lab.guest import GuestPhase
from miglane.lab.guests import GuestOs, guest_spec
from miglane.lab.layout import local_image_path_in_host
from miglane.lab.linux import LinuxPhase
from miglane.lab.plan import plan_lab
from miglane.lab.state import LabState
from miglane.lab.storage import NBD_PORT
from miglane.lab.vmnets import record

MIB = 1 << 20


@pytest.mark.parametrize(
    ("text", "size"),
    [("64M", 64 * MIB), ("1G", 1 << 30), ("512MiB", 512 * MIB), ("2048k", 2 * MIB), ("4096", 4096)],
)
def test_sizes_use_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "1.5G", "-1M", "64X", "64 M"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


def test_disks_are_shared_or_local_whole_mebibytes() -> None:
    assert parse_disk("shared:64M") == DiskSpec(DiskKind.SHARED, 64 * MIB)
    assert parse_disk("local:1G") == DiskSpec(DiskKind.LOCAL, 1 << 30)
    with pytest.raises(ValueError, match="shared:SIZE or local:SIZE"):
        parse_disk("nfs:1G")
    with pytest.raises(ValueError, match="between 1M and 64G"):
        parse_disk("local:512K")
    with pytest.raises(ValueError, match="whole number of MiB"):
        parse_disk("shared:1536K")


def test_disks_get_targets_in_order_and_serials_that_fit_virtio() -> None:
    disks = plan_disks("web1", [parse_disk("shared:64M"), parse_disk("local:8M")])
    assert [(d.kind, d.target, d.image_name) for d in disks] == [
        (DiskKind.SHARED, "vda", "web1-vda"),
        (DiskKind.LOCAL, "vdb", "web1-vdb"),
    ]
    others = plan_disks("web2", [parse_disk("shared:64M")])
    assert disks[0].serial != others[0].serial
    assert all(len(disk.serial) <= 20 for disk in disks)
    with pytest.raises(ValueError, match="at most"):
        plan_disks("web1", [parse_disk("local:1M")] * (MAX_DISKS + 1))


def test_a_shared_disk_is_nbd_without_host_cache() -> None:
    (disk,) = plan_disks("db", [parse_disk("shared:64M")])
    element = ET.fromstring(render_disk_xml(disk, "10.231.1.1", NBD_PORT))
    assert element.get("type") == "network"
    assert element.find("driver").get("cache") == "none"  # type: ignore[union-attr]
    source = element.find("source")
    assert source is not None
    assert (source.get("protocol"), source.get("name")) == ("nbd", disk.image_name)
    host = source.find("host")
    assert host is not None
    assert (host.get("name"), host.get("port")) == ("10.231.1.1", str(NBD_PORT))
    assert element.find("target").get("dev") == "vda"  # type: ignore[union-attr]
    assert element.findtext("serial") == disk.serial


def test_a_local_disk_is_a_file_at_the_same_path_on_every_host() -> None:
    (disk,) = plan_disks("db", [parse_disk("local:8M")])
    element = ET.fromstring(render_disk_xml(disk, "10.231.1.1", NBD_PORT))
    assert element.get("type") == "file"
    source = element.find("source")
    assert source is not None
    assert source.get("file") == local_image_path_in_host(disk.image_file)
    assert source.get("file", "").startswith("/var/lib/libvirt/images/")


def test_a_vnic_sits_on_the_bridge_named_after_its_network() -> None:
    element = ET.fromstring(render_nic_xml("prod-vlan"))
    assert element.get("type") == "bridge"
    assert element.find("source").get("bridge") == "prod-vlan"  # type: ignore[union-attr]
    for bad in ("", "a" * 16, "1net", "with space", "a/b"):
        with pytest.raises(ValueError, match="invalid network name"):
            validate_bridge_name(bad)


def test_a_linux_domain_has_its_initrd_cmdline_and_devices() -> None:
    devices = render_nic_xml("prod-vlan")
    xml = render_domain_xml(
        "vm", 128, "/k/vmlinuz", initrd="/k/initrd.gz", cmdline="console=ttyS0", devices=devices
    )
    domain = ET.fromstring(xml)
    assert domain.findtext("os/initrd") == "/k/initrd.gz"
    assert domain.findtext("os/cmdline") == "console=ttyS0"
    assert domain.find("devices/interface/source").get("bridge") == "prod-vlan"  # type: ignore[union-attr]
    assert domain.find("devices/serial") is not None


def test_guest_spec_checks_everything_and_knows_when_it_is_ready() -> None:
    tiny = guest_spec("a", 64, 0, "tiny", [], [], persistent=False, virt_type="qemu")
    assert tiny.ready_phase() is GuestPhase.FILLED
    linux = guest_spec("a", 128, 0, "linux", ["shared:8M"], [], persistent=False, virt_type="qemu")
    assert linux.os is GuestOs.LINUX
    assert linux.disks == (DiskSpec(DiskKind.SHARED, 8 * MIB),)
    assert linux.ready_phase() is LinuxPhase.PATTERN_WRITTEN
    dirtying = guest_spec("a", 128, 4, "linux", [], [], persistent=False, virt_type="qemu")
    assert dirtying.ready_phase() is LinuxPhase.DIRTYING
    for kwargs in ({"guest_os": "windows"}, {"disks": ["san:1G"]}, {"nics": ["bad name"]}):
        args: dict[str, object] = {"guest_os": "linux", "disks": [], "nics": []} | kwargs
        with pytest.raises(LabError):
            guest_spec("a", 128, 0, persistent=False, virt_type="qemu", **args)  # type: ignore[arg-type]


def test_vm_networks_are_recorded_for_known_hosts_only() -> None:
    plan, state = plan_lab(1, 3), LabState(slot=1)
    record(plan, state, {"prod": ["host1"]})
    record(plan, state, {"prod": ["host3", "host1"], "backup": ["host2"]})
    assert state.vm_networks == {"prod": ["host1", "host3"], "backup": ["host2"]}
    with pytest.raises(LabError, match="host4"):
        record(plan, state, {"prod": ["host4"]})
    with pytest.raises(LabError, match="invalid network name"):
        record(plan, state, {"bad name": ["host1"]})
    with pytest.raises(LabError, match="no hosts given"):
        record(plan, state, {"prod": []})
