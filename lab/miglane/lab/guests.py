"""Guests on one lab host: started from the lab kernel or Linux, with their disks and vNICs,
watched through their serial console."""

from __future__ import annotations

import enum
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import storage
from .configs import render_domain_xml, validate_vm_name
from .devices import (
    Disk,
    DiskKind,
    DiskSpec,
    parse_disk,
    plan_disks,
    render_disk_xml,
    render_nic_xml,
    validate_bridge_name,
)
from .errors import LabError
from .guest import GuestPhase, build_guest_kernel
from .layout import HostPaths, LabPaths
from .libvirtd import local_uri
from .linux import BLOCK, LinuxImage, LinuxPhase, build_linux_image, kernel_cmdline
from .processes import wait_until
from .state import LabState
from .status import VmInfo
from .virsh import Virsh

TINY_READY_TIMEOUT = 30.0
LINUX_READY_TIMEOUT = 90.0
LINUX_SECONDS_PER_MIB = 0.05  # writing one block header under TCG, with margin


class GuestOs(enum.StrEnum):
    TINY = "tiny"  # the lab's multiboot kernel: fills its memory, leaves any disk untouched
    LINUX = "linux"  # Debian's kernel and a busybox initramfs: writes a pattern to its disks


@dataclass(frozen=True)
class GuestSpec:
    """What `lab vm create` asks for."""

    memory_mib: int = 128
    dirty_mib: int = 0
    os: GuestOs = GuestOs.TINY
    disks: tuple[DiskSpec, ...] = ()
    nics: tuple[str, ...] = ()
    persistent: bool = False
    virt_type: str = "qemu"

    def ready_phase(self) -> GuestPhase | LinuxPhase:
        """What the guest announces once it is what was asked for."""
        if self.os is GuestOs.TINY:
            return GuestPhase.FILLED
        return LinuxPhase.DIRTYING if self.dirty_mib else LinuxPhase.PATTERN_WRITTEN


@dataclass(frozen=True)
class Storage:
    """Where a guest's disks live: the lab's NBD server and this host's image directory."""

    storage_dir: Path
    nbd_addr: str
    images_dir: Path

    @classmethod
    def of(cls, lab_paths: LabPaths, nbd_addr: str, host_paths: HostPaths) -> Storage:
        return cls(lab_paths.storage_dir, nbd_addr, host_paths.images_dir)


def prepare(
    lab_paths: LabPaths, state: LabState, spec: GuestSpec, disks: list[Disk], where: Storage
) -> tuple[str | LinuxImage, list[subprocess.Popen[bytes]]]:
    """What the guest boots (built when missing) and fresh images for its disks; the caller
    holds the lab's lock. Also returns the storage daemon, when this call started it."""
    kernel: str | LinuxImage
    if spec.os is GuestOs.LINUX:
        kernel = build_linux_image(lab_paths.linux_dir)
    else:
        kernel = state.guest_kernel or str(build_guest_kernel(lab_paths.guest_dir))
    started = []
    if any(disk.kind is DiskKind.SHARED for disk in disks):
        daemon = storage.ensure_daemon(where.storage_dir, where.nbd_addr)
        started += [daemon] if daemon else []
    create_disks(disks, where)
    return kernel, started


def guest_spec(
    name: str,
    memory_mib: int,
    dirty_mib: int,
    guest_os: GuestOs | str,
    disks: Sequence[DiskSpec | str],
    nics: Sequence[str],
    *,
    persistent: bool,
    virt_type: str,
) -> GuestSpec:
    """The spec, checked: a LabError says what is wrong with it."""
    try:
        validate_vm_name(name)
        for network in nics:
            validate_bridge_name(network)
        return GuestSpec(
            memory_mib=memory_mib,
            dirty_mib=dirty_mib,
            os=GuestOs(guest_os),
            disks=tuple(parse_disk(d) if isinstance(d, str) else d for d in disks),
            nics=tuple(nics),
            persistent=persistent,
            virt_type=virt_type,
        )
    except ValueError as exc:
        raise LabError(str(exc)) from exc


def plan_guest_disks(name: str, spec: GuestSpec) -> list[Disk]:
    try:
        return plan_disks(name, list(spec.disks))
    except ValueError as exc:
        raise LabError(str(exc)) from exc


def ready_timeout(spec: GuestSpec) -> float:
    """Seconds a guest may take to become ready: Linux boots under TCG and writes its disks."""
    if spec.os is GuestOs.TINY:
        return TINY_READY_TIMEOUT
    disk_mib = sum(disk.size_bytes for disk in spec.disks) // BLOCK
    return LINUX_READY_TIMEOUT + disk_mib * LINUX_SECONDS_PER_MIB


def disk_image(where: Storage, name: str, target: str) -> Path:
    """The file behind a guest's disk: shared when the storage daemon has it, else local."""
    file_name = f"{name}-{target}.raw"
    shared = storage.image_path(where.storage_dir, f"{name}-{target}")
    for image in (shared, where.images_dir / file_name):
        if image.exists():
            return image
    raise LabError(f"guest {name} has no disk {target} (no {file_name} in the lab)")


def create_disks(disks: list[Disk], where: Storage) -> list[Path]:
    """Fresh zero-filled images for the guest's disks (the storage daemon runs); their paths
    as this machine sees them."""
    images = []
    for disk in disks:
        if disk.kind is DiskKind.SHARED:
            images.append(
                storage.create_export(where.storage_dir, disk.image_name, disk.size_bytes)
            )
        else:
            where.images_dir.mkdir(parents=True, exist_ok=True)
            image = where.images_dir / disk.image_file
            with image.open("wb") as file:
                file.truncate(disk.size_bytes)
            images.append(image)
    return images


def remove_disks(name: str, where: Storage) -> None:
    """The images of guest `name`'s disks: its shared exports and this host's local images."""
    for image in sorted(where.storage_dir.glob(f"{name}-vd?.raw")):
        storage.remove_export(where.storage_dir, image.stem)
    for image in sorted(where.images_dir.glob(f"{name}-vd?.raw")):
        image.unlink(missing_ok=True)


def render_guest_xml(
    name: str, spec: GuestSpec, kernel: str | LinuxImage, disks: list[Disk], nbd_addr: str
) -> str:
    devices = [render_disk_xml(disk, nbd_addr, storage.NBD_PORT) for disk in disks]
    devices += [render_nic_xml(network) for network in spec.nics]
    try:
        if isinstance(kernel, LinuxImage):
            return render_domain_xml(
                name,
                spec.memory_mib,
                str(kernel.kernel),
                spec.dirty_mib,
                spec.virt_type,
                initrd=str(kernel.initrd),
                cmdline=kernel_cmdline(spec.dirty_mib),
                devices="".join(devices),
            )
        return render_domain_xml(
            name, spec.memory_mib, kernel, spec.dirty_mib, spec.virt_type, devices="".join(devices)
        )
    except ValueError as exc:
        raise LabError(str(exc)) from exc


def start_guest(host: str, paths: HostPaths, name: str, xml: str, *, persistent: bool) -> VmInfo:
    xml_file = paths.domains_dir / f"{name}.xml"
    xml_file.parent.mkdir(parents=True, exist_ok=True)
    xml_file.write_text(xml)
    # What a guest of this name printed here before must not look like this one's progress.
    paths.guest_serial_log(name).unlink(missing_ok=True)
    virsh = Virsh(local_uri(paths))
    if persistent:
        virsh.define_and_start(xml_file, name)
    else:
        virsh.create(xml_file)
    return VmInfo(host=host, name=name, state="running", persistent=persistent)


def console(paths: HostPaths, name: str) -> str:
    """What the guest wrote to its serial port while running on this host."""
    validate_vm_name(name)
    try:
        return paths.guest_serial_log(name).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_for_phase(
    host: str, paths: HostPaths, name: str, phase: GuestPhase | LinuxPhase, timeout: float
) -> None:
    if not wait_until(lambda: phase.serial_line in console(paths, name), timeout):
        raise LabError(
            f"guest {name} on {host} did not reach '{phase.name.lower()}' within "
            f"{timeout:g} s; console: {console(paths, name)!r}"
        )


def destroy_guest(host: str, paths: HostPaths, name: str) -> None:
    """Stops the guest and forgets it on this host (undefines a persistent one)."""
    virsh = Virsh(local_uri(paths))
    entries = {entry.name: entry for entry in virsh.domains()}
    if name not in entries:
        raise LabError(f"no guest {name} on {host}")
    if entries[name].state != "shut off":
        virsh.destroy(name)
    if name in {entry.name for entry in virsh.domains()}:
        virsh.undefine(name)


def list_guests(host: str, paths: HostPaths) -> list[VmInfo]:
    return [
        VmInfo(host=host, name=entry.name, state=entry.state)
        for entry in Virsh(local_uri(paths)).domains()
    ]
