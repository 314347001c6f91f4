"""Guests on one lab host: started from the lab kernel, watched through their serial console."""

from __future__ import annotations

from .configs import render_domain_xml, validate_vm_name
from .errors import LabError
from .guest import GuestPhase
from .layout import HostPaths
from .libvirtd import local_uri
from .processes import wait_until
from .status import VmInfo
from .virsh import Virsh


def start_guest(
    host: str,
    paths: HostPaths,
    name: str,
    memory_mib: int,
    dirty_mib: int,
    kernel: str,
    *,
    persistent: bool,
    virt_type: str,
) -> VmInfo:
    try:
        xml = render_domain_xml(name, memory_mib, kernel, dirty_mib, virt_type)
    except ValueError as exc:
        raise LabError(str(exc)) from exc
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
    host: str, paths: HostPaths, name: str, phase: GuestPhase, timeout: float
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
