"""Text of the files the lab writes: libvirtd.conf, qemu.conf and guest domain XML (pure)."""

from __future__ import annotations

import re
from html import escape

from .layout import QEMU_TLS_DIR, SYSTEM_PKI_DIR, HostPaths, guest_serial_path_in_host
from .plan import LIBVIRTD_TLS_PORT, MIGRATION_PORT_MAX, MIGRATION_PORT_MIN, HostPlan

QEMU_EMULATOR = "/usr/bin/qemu-system-x86_64"
VIRT_TYPES = ("qemu", "kvm")
_VM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def render_libvirtd_conf(host: HostPlan, paths: HostPaths) -> str:
    """libvirtd.conf: unix socket in the host's own directory, TLS on its management address
    (the host's certificate; clients need one from the lab's CA); no plain TCP."""
    return f"""# libvirtd of lab host {host.name}, written by `miglane lab up`.
# Bind-mounted over /etc/libvirt inside the daemon's own mount namespace.
unix_sock_dir = "{paths.socket_dir}"
unix_sock_group = "root"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
# Peers reach this daemon over the management network only, with qemu+tls://: a client
# certificate from the lab's CA is the authentication. Plain TCP (16509) is not opened.
listen_tls = 1
listen_tcp = 0
listen_addr = "{host.mgmt_addr}"
tls_port = "{LIBVIRTD_TLS_PORT}"
auth_tls = "none"
ca_file = "{SYSTEM_PKI_DIR}/CA/cacert.pem"
cert_file = "{SYSTEM_PKI_DIR}/libvirt/servercert.pem"
key_file = "{SYSTEM_PKI_DIR}/libvirt/private/serverkey.pem"
# Migration between daemons with equal host UUIDs is refused.
host_uuid = "{host.host_uuid}"
log_outputs = "3:file:{paths.libvirtd_log}"
"""


def render_qemu_conf(host: HostPlan) -> str:
    """qemu.conf: no virtlogd, no cgroups, no security driver; migration defaults to mig0."""
    return f"""# QEMU driver of lab host {host.name}, written by `miglane lab up`.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
lock_manager = "nop"
# Incoming migrations listen on every address of this host (its namespace holds only mgmt0
# and mig0), so a migration URI can pick either network; without a URI the source is told to
# use the migration network.
migration_address = "0.0.0.0"
migration_host = "{host.mig_addr}"
migration_port_min = {MIGRATION_PORT_MIN}
migration_port_max = {MIGRATION_PORT_MAX}
# QEMU's own TLS (VIR_MIGRATE_TLS): the host's certificate, the peer's checked both ways.
default_tls_x509_cert_dir = "{QEMU_TLS_DIR}"
default_tls_x509_verify = 1
migrate_tls_x509_cert_dir = "{QEMU_TLS_DIR}"
migrate_tls_x509_verify = 1
"""


def validate_vm_name(name: str) -> str:
    if not _VM_NAME.match(name):
        raise ValueError(
            f"invalid VM name {name!r}: use letters, digits, '_', '.', '-' (at most 64)"
        )
    return name


def render_domain_xml(
    name: str,
    memory_mib: int,
    kernel: str,
    dirty_mib: int = 0,
    virt_type: str = "qemu",
    *,
    initrd: str | None = None,
    cmdline: str | None = None,
    devices: str = "",
) -> str:
    """A guest booting `kernel` (the lab's tiny kernel, or Linux with `initrd` and `cmdline`),
    console on a serial file, with the extra `devices` XML (disks, vNICs) and nothing else.

    `virt_type` 'qemu' (TCG) is the default: for these tiny guests it boots faster than KVM
    here and needs no /dev/kvm.
    """
    validate_vm_name(name)
    if virt_type not in VIRT_TYPES:
        raise ValueError(f"virt type must be one of {', '.join(VIRT_TYPES)}, not {virt_type!r}")
    if not 16 <= memory_mib <= 3072:
        raise ValueError(f"guest memory must be between 16 and 3072 MiB, not {memory_mib}")
    if not 0 <= dirty_mib <= memory_mib:
        raise ValueError(f"dirty MiB must be between 0 and the guest memory, not {dirty_mib}")
    serial = guest_serial_path_in_host(name)
    initrd_xml = f"\n    <initrd>{escape(initrd)}</initrd>" if initrd else ""
    cmdline = f"dirty={dirty_mib}" if cmdline is None else cmdline
    return f"""<domain type='{virt_type}'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(kernel)}</kernel>{initrd_xml}
    <cmdline>{escape(cmdline)}</cmdline>
  </os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{QEMU_EMULATOR}</emulator>
    <serial type='file'>
      <source path='{escape(serial)}'/>
      <target port='0'/>
    </serial>
{devices}    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""
