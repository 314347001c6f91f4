"""A domain's disks and vNICs read from its XML: which disks are shared, which local."""

from __future__ import annotations

from pathlib import Path

from miglane.agent.domain.model import DiskKind, VmDisk, VmNic
from miglane.agent.vm_devices import file_system_of, parse_disks, parse_nics

DOMAIN_XML = """<domain type='kvm'><devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='/var/lib/libvirt/images/web1.qcow2'/><target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='disk'><driver name='qemu' type='raw'/>
    <source file='/mnt/nfs/web1-data.raw'/><target dev='vdb' bus='virtio'/></disk>
  <disk type='network' device='disk'><driver name='qemu' type='raw'/>
    <source protocol='nbd' name='web1-vdc'><host name='10.0.0.1' port='10809'/></source>
    <target dev='vdc' bus='virtio'/></disk>
  <disk type='block' device='disk'><driver name='qemu' type='raw'/>
    <source dev='/dev/vg/web1'/><target dev='vdd' bus='virtio'/><shareable/></disk>
  <disk type='block' device='disk'><driver name='qemu' type='raw'/>
    <source dev='/dev/sdb'/><target dev='vde' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><source file='/iso/boot.iso'/><target dev='sda'/></disk>
  <disk type='file' device='disk'><target dev='vdf'/></disk>
  <interface type='bridge'><mac address='52:54:00:aa:bb:01'/>
    <source bridge='prod-vlan'/></interface>
  <interface type='network'><mac address='52:54:00:aa:bb:02'/>
    <source network='default'/></interface>
</devices></domain>"""


def test_disks_are_shared_when_every_host_reaches_them() -> None:
    sizes = {"vda": 10, "vdb": 20, "vdc": 30, "vdd": 40, "vde": 50}
    disks = parse_disks(
        DOMAIN_XML, lambda target: sizes[target], lambda path: path.startswith("/mnt/nfs/")
    )
    assert disks == (
        VmDisk("vda", DiskKind.LOCAL, 10, "qcow2", "/var/lib/libvirt/images/web1.qcow2"),
        VmDisk("vdb", DiskKind.SHARED, 20, "raw", "/mnt/nfs/web1-data.raw"),
        VmDisk("vdc", DiskKind.SHARED, 30, "raw", "nbd://10.0.0.1:10809/web1-vdc"),
        VmDisk("vdd", DiskKind.SHARED, 40, "raw", "/dev/vg/web1"),
        VmDisk("vde", DiskKind.LOCAL, 50, "raw", "/dev/sdb"),
    )  # the cdrom and the empty drive are no data to move


def test_vnics_name_their_network() -> None:
    assert parse_nics(DOMAIN_XML) == (
        VmNic("prod-vlan", "52:54:00:aa:bb:01"),
        VmNic("default", "52:54:00:aa:bb:02"),
    )


def test_file_system_of_the_longest_mount_point(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "40 22 0:50 / /mnt/nfs rw - nfs4 server:/export rw\n"
        "41 22 0:51 / /mnt/nfsx rw - tmpfs tmpfs rw\n"
    )
    assert file_system_of("/mnt/nfs/web1.raw", str(mountinfo)) == "nfs4"
    assert file_system_of("/mnt/nfsx/web1.raw", str(mountinfo)) == "tmpfs"
    assert file_system_of("/var/lib/libvirt/images/a.raw", str(mountinfo)) == "ext4"
    assert file_system_of("/x", str(tmp_path / "missing")) == ""
