"""A lab guest's disks and vNICs: parsed from `--disk KIND:SIZE` / `--nic NETWORK`, rendered as
libvirt device XML (pure).

A shared disk is an NBD export of the lab's storage daemon (network block storage: libvirt
migrates its guest without copying it); a local disk is a raw image in the host's own
/var/lib/libvirt/images (libvirt refuses a plain migration of its guest). A vNIC sits on a
Linux bridge of the network's name inside the host, which only some hosts have.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from html import escape

from .layout import local_image_path_in_host

_SIZE = re.compile(r"^(\d+)([KMGT]?)(?:i?B)?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MIN_DISK_BYTES = 1 << 20
MAX_DISK_BYTES = 64 << 30
MAX_DISKS = 8
# A Linux interface name: at most 15 characters.
_BRIDGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")


class DiskKind(enum.StrEnum):
    SHARED = "shared"
    LOCAL = "local"


@dataclass(frozen=True)
class DiskSpec:
    kind: DiskKind
    size_bytes: int


@dataclass(frozen=True)
class Disk:
    """A disk attached to a guest: its device name and the image that backs it."""

    kind: DiskKind
    size_bytes: int
    target: str  # vda, vdb, ...
    image_name: str  # NBD export name (shared) or file name (local)
    serial: str  # what the guest reads in /sys/block/<target>/serial

    @property
    def image_file(self) -> str:
        return f"{self.image_name}.raw"


def parse_size(text: str) -> int:
    """Bytes in `64M`, `1G`, `512MiB`, `1048576`; binary units."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"invalid size {text!r}: use a number with K, M, G or T (e.g. 64M)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def parse_disk(text: str) -> DiskSpec:
    """`shared:SIZE` or `local:SIZE`."""
    kind, _, size = text.partition(":")
    try:
        disk_kind = DiskKind(kind)
    except ValueError:
        raise ValueError(f"invalid disk {text!r}: use shared:SIZE or local:SIZE") from None
    size_bytes = parse_size(size)
    if not MIN_DISK_BYTES <= size_bytes <= MAX_DISK_BYTES:
        raise ValueError(f"disk size must be between 1M and 64G, not {size}")
    if size_bytes % MIN_DISK_BYTES:
        raise ValueError(f"disk size must be a whole number of MiB, not {size}")
    return DiskSpec(disk_kind, size_bytes)


def validate_bridge_name(name: str) -> str:
    if not _BRIDGE_NAME.match(name):
        raise ValueError(
            f"invalid network name {name!r}: a letter, then letters, digits, '_', '.', '-' "
            "(at most 15 characters)"
        )
    return name


def disk_serial(vm_name: str, target: str) -> str:
    """Short (virtio-blk keeps 20 bytes) and distinct per guest and disk."""
    return f"{target}-{hashlib.sha256(vm_name.encode()).hexdigest()[:10]}"


def plan_disks(vm_name: str, specs: list[DiskSpec]) -> list[Disk]:
    if len(specs) > MAX_DISKS:
        raise ValueError(f"a lab guest has at most {MAX_DISKS} disks, not {len(specs)}")
    disks = []
    for index, spec in enumerate(specs):
        target = f"vd{chr(ord('a') + index)}"
        disks.append(
            Disk(
                kind=spec.kind,
                size_bytes=spec.size_bytes,
                target=target,
                image_name=f"{vm_name}-{target}",
                serial=disk_serial(vm_name, target),
            )
        )
    return disks


def render_disk_xml(disk: Disk, nbd_host: str, nbd_port: int) -> str:
    """A shared disk: NBD on the lab's storage daemon, no host cache (libvirt's condition for
    migrating it without copying). A local disk: the host's own image file."""
    if disk.kind is DiskKind.SHARED:
        source = (
            f"<source protocol='nbd' name='{escape(disk.image_name)}'>"
            f"<host name='{nbd_host}' port='{nbd_port}'/></source>"
        )
        head, driver = "<disk type='network' device='disk'>", "cache='none'"
    else:
        path = local_image_path_in_host(disk.image_file)
        source = f"<source file='{escape(path)}'/>"
        head, driver = "<disk type='file' device='disk'>", "cache='writeback'"
    return (
        f"    {head}\n"
        f"      <driver name='qemu' type='raw' {driver}/>\n"
        f"      {source}\n"
        f"      <target dev='{disk.target}' bus='virtio'/>\n"
        f"      <serial>{disk.serial}</serial>\n"
        "    </disk>\n"
    )


def render_nic_xml(network: str) -> str:
    """A vNIC on the host's bridge named after the network (libvirt fails where it is missing)."""
    validate_bridge_name(network)
    return (
        "    <interface type='bridge'>\n"
        f"      <source bridge='{network}'/>\n"
        "      <model type='virtio'/>\n"
        "    </interface>\n"
    )
