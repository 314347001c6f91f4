"""A domain's disks and vNICs as migration sees them, read from its libvirt XML.

A disk is SHARED when every host reaches it: network storage (`type='network'`: NBD, RBD,
iSCSI, ...), a file on a shared or cluster file system, or a block device libvirt is told is
shareable. Anything else (a file on a local file system, a block device of this host) is
LOCAL: a live migration must copy it. Sizes come from the caller (libvirt's block info), as
the XML has none.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable

from miglane.agent.domain.model import DiskKind, VmDisk, VmNic

# File systems every host of a cluster mounts alike (what libvirt's virFileIsSharedFS and
# virFileIsClusterFS recognise).
SHARED_FILE_SYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "fuse.glusterfs", "gfs2", "ocfs2", "gpfs"}
)
MOUNTINFO = "/proc/self/mountinfo"
# The device kinds that hold guest data; cdroms and floppies are not migrated as disks.
_DATA_DEVICES = ("disk", "lun")


def file_system_of(path: str, mountinfo: str = MOUNTINFO) -> str:
    """The type of the file system holding `path` (the longest mount point above it); ""
    when it cannot be told."""
    path = os.path.abspath(path)
    best, fs_type = "", ""
    try:
        with open(mountinfo) as lines:
            for line in lines:
                fields = line.split()
                if " - " not in line or len(fields) < 5:
                    continue
                mount_point = fields[4].replace("\\040", " ")
                inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best = mount_point
                    fs_type = line.split(" - ", 1)[1].split()[0]
    except OSError:
        return ""
    return fs_type


def on_shared_file_system(path: str) -> bool:
    return file_system_of(path) in SHARED_FILE_SYSTEMS


def _network_source(source: ET.Element) -> str:
    protocol = source.get("protocol", "network")
    host = source.find("host")
    where = ""
    if host is not None and host.get("name"):
        where = host.get("name", "") + (f":{host.get('port')}" if host.get("port") else "")
    name = source.get("name", "")
    return f"{protocol}://{where}/{name}" if where else f"{protocol}:{name}"


def disk_kind(disk: ET.Element, source: str, is_shared_path: Callable[[str], bool]) -> DiskKind:
    disk_type = disk.get("type", "file")
    if disk_type == "network" or disk.find("shareable") is not None:
        return DiskKind.SHARED
    if disk_type == "file" and source and is_shared_path(source):
        return DiskKind.SHARED
    return DiskKind.LOCAL


def parse_disks(
    domain_xml: str,
    size_of: Callable[[str], int],
    is_shared_path: Callable[[str], bool] = on_shared_file_system,
) -> tuple[VmDisk, ...]:
    """The domain's data disks with a source; `size_of(target)` gives a disk's virtual size in
    bytes (0 when unknown)."""
    disks = []
    for disk in ET.fromstring(domain_xml).findall("devices/disk"):
        target = disk.find("target")
        element = disk.find("source")
        if disk.get("device", "disk") not in _DATA_DEVICES or target is None or element is None:
            continue
        if disk.get("type") == "network":
            source = _network_source(element)
        else:
            source = element.get("file") or element.get("dev") or element.get("volume") or ""
        if not source:
            continue  # an empty drive: nothing to move
        driver = disk.find("driver")
        name = target.get("dev", "")
        disks.append(
            VmDisk(
                target=name,
                kind=disk_kind(disk, source, is_shared_path),
                size_bytes=size_of(name),
                format=driver.get("type", "") if driver is not None else "",
                source=source,
            )
        )
    return tuple(disks)


def parse_nics(domain_xml: str) -> tuple[VmNic, ...]:
    """The domain's vNICs: the bridge (or libvirt network) each is plugged into, and its MAC."""
    nics = []
    for interface in ET.fromstring(domain_xml).findall("devices/interface"):
        source = interface.find("source")
        mac = interface.find("mac")
        network = ""
        if source is not None:
            network = source.get("bridge") or source.get("network") or source.get("dev") or ""
        nics.append(VmNic(network=network, mac=mac.get("address", "") if mac is not None else ""))
    return tuple(nics)
