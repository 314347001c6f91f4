"""Where a lab keeps its files: one base directory, one directory per host."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Fixed paths of a root libvirtd (compiled in); each host daemon gets its own directory
# bind-mounted over each of them, inside its own mount namespace.
LIBVIRT_SYSTEM_DIRS = {
    "etc": "/etc/libvirt",
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "log": "/var/log/libvirt",
    "cache": "/var/cache/libvirt",
}
SYSTEM_PKI_DIR = "/etc/pki"
# QEMU's TLS directory as libvirtd and QEMU see it, inside the host's mount namespace.
QEMU_TLS_DIR = f"{SYSTEM_PKI_DIR}/qemu"
SYSTEM_HOSTS_FILE = "/etc/hosts"
# Longest path a unix socket address can hold (sun_path, with its terminating NUL).
UNIX_SOCKET_PATH_MAX = 107


@dataclass(frozen=True)
class HostPaths:
    """Files of one lab host, under `<base>/hosts/<name>`."""

    root: Path

    def system_dir(self, key: str) -> Path:
        return self.root / key

    @property
    def libvirtd_conf(self) -> Path:
        return self.root / "etc" / "libvirtd.conf"

    @property
    def qemu_conf(self) -> Path:
        return self.root / "etc" / "qemu.conf"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def socket(self) -> Path:
        return self.socket_dir / "libvirt-sock"

    @property
    def libvirtd_pid_file(self) -> Path:
        return self.root / "libvirtd.pid"

    @property
    def daemon_log(self) -> Path:
        return self.root / "daemon.log"

    @property
    def libvirtd_log(self) -> Path:
        return self.root / "log" / "libvirtd.log"

    @property
    def qemu_pid_dir(self) -> Path:
        return self.root / "run" / "qemu"

    @property
    def qemu_log_dir(self) -> Path:
        return self.root / "log" / "qemu"

    @property
    def capabilities_cache(self) -> Path:
        return self.root / "cache" / "qemu" / "capabilities"

    @property
    def domains_dir(self) -> Path:
        return self.root / "domains"

    @property
    def pki_tree(self) -> Path:
        """Bind-mounted over /etc/pki in the host's mount namespace (see `miglane.lab.pki`)."""
        return self.root / "pki"

    @property
    def libvirt_client_pki(self) -> Path:
        """The host's libvirt client identity for processes outside its mount namespace (a
        `?pkipath=` directory)."""
        return self.pki_tree / "client"

    @property
    def qemu_tls_dir(self) -> Path:
        """The host's QEMU TLS files, as seen from outside its mount namespace."""
        return self.pki_tree / "qemu"

    @property
    def hosts_file(self) -> Path:
        """Bind-mounted over /etc/hosts in the host's mount namespace."""
        return self.root / "hosts"

    def identity_binds(self) -> list[tuple[str, str]]:
        """(host file, system path) pairs that make a process see the host's certificates
        (/etc/pki) and its peers' names (/etc/hosts): the daemon's and the agent's."""
        return [(str(self.pki_tree), SYSTEM_PKI_DIR), (str(self.hosts_file), SYSTEM_HOSTS_FILE)]

    def system_binds(self) -> list[tuple[str, str]]:
        """Everything the daemon's mount namespace covers: libvirt's fixed directories too."""
        binds = [(str(self.system_dir(key)), target) for key, target in LIBVIRT_SYSTEM_DIRS.items()]
        return binds + self.identity_binds()

    @property
    def agent_state_dir(self) -> Path:
        return self.root / "agent"

    @property
    def agent_save_dir(self) -> Path:
        """Where the host's agent hibernates VMs to (`miglane agent --save-dir`)."""
        return self.root / "saves"

    @property
    def agent_log(self) -> Path:
        return self.root / "agent.log"

    @property
    def images_dir(self) -> Path:
        """The host's local disk images (its /var/lib/libvirt/images)."""
        return self.root / "lib" / "images"

    def guest_serial_log(self, vm_name: str) -> Path:
        """Where the guest's serial console lands while it runs on this host."""
        return self.qemu_log_dir / f"{vm_name}.serial"


@dataclass(frozen=True)
class LabPaths:
    """Files of a lab, under its base directory."""

    base: Path

    @property
    def state_file(self) -> Path:
        return self.base / "lab.json"

    @property
    def lock_file(self) -> Path:
        return self.base / "lab.lock"

    @property
    def hosts_dir(self) -> Path:
        return self.base / "hosts"

    @property
    def cache_dir(self) -> Path:
        """Kept by `down` (not `down --purge`): the guest kernel and QEMU capabilities."""
        return self.base / "cache"

    @property
    def guest_dir(self) -> Path:
        return self.cache_dir / "guest"

    @property
    def linux_dir(self) -> Path:
        """The Linux guest's kernel and initramfs (built from Debian packages); under the guest
        directory, which `down` recognises QEMU processes by."""
        return self.guest_dir / "linux"

    @property
    def storage_dir(self) -> Path:
        """The network block storage: shared disk images and their daemon's files."""
        return self.base / "storage"

    @property
    def capabilities_seed(self) -> Path:
        return self.cache_dir / "qemu-capabilities"

    def host(self, name: str) -> HostPaths:
        return HostPaths(self.hosts_dir / name)


def guest_serial_path_in_host(vm_name: str) -> str:
    """The serial log path as QEMU sees it: the same on every host, a different file on each."""
    return f"{LIBVIRT_SYSTEM_DIRS['log']}/qemu/{vm_name}.serial"


def local_image_path_in_host(image_name: str) -> str:
    """A host-local disk image as QEMU sees it: the same path on every host (the host's own
    /var/lib/libvirt/images), a different file on each."""
    return f"{LIBVIRT_SYSTEM_DIRS['lib']}/images/{image_name}"
