"""The Debian packages and system user the lab's hypervisor hosts need.

The Linux guest's kernel and busybox (`linux.KERNEL_META_PACKAGE`, `linux.BUSYBOX_PACKAGE`) are
downloaded into the lab's cache when first asked for, not installed.
"""

from __future__ import annotations

import grp
import os
import pwd

from .commands import find_tool, run
from .errors import LabError

REQUIRED_PACKAGES = (
    "libvirt-daemon",
    "libvirt-daemon-driver-qemu",
    "libvirt-clients",
    "qemu-system-x86",
    "qemu-system-common",  # qemu-storage-daemon: the lab's network block storage
    "binutils",
    "tini",
    "iproute2",
)
QEMU_USER = "libvirt-qemu"
_APT_TIMEOUT = 900


def missing_packages(packages: tuple[str, ...] = REQUIRED_PACKAGES) -> list[str]:
    """The packages dpkg does not report as installed."""
    if find_tool("dpkg-query") is None:
        raise LabError(
            "dpkg-query not found: the lab runs on Debian or Ubuntu; install by hand: "
            + " ".join(packages)
        )
    result = run(["dpkg-query", "-W", "-f=${Package} ${Status}\\n", *packages], check=False)
    installed = {
        line.split()[0]
        for line in result.stdout.splitlines()
        if line.endswith("install ok installed")
    }
    return [package for package in packages if package not in installed]


def install_packages(packages: list[str]) -> None:
    """apt-get install --no-install-recommends; a clear LabError when apt is not usable."""
    if find_tool("apt-get") is None:
        raise LabError(
            "missing Debian packages: " + " ".join(packages) + "; apt-get is not available, "
            "install them by hand"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        run(["apt-get", "update", "-qq"], timeout=_APT_TIMEOUT, env=env)
        run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
            timeout=_APT_TIMEOUT,
            env=env,
        )
    except LabError as exc:
        raise LabError(f"could not install {' '.join(packages)}: {exc}") from exc
    still_missing = missing_packages(tuple(packages))
    if still_missing:
        raise LabError(f"apt-get did not install {' '.join(still_missing)}")


def ensure_packages() -> list[str]:
    """Installs what is missing; returns what was installed (empty when all were present)."""
    missing = missing_packages()
    if missing:
        install_packages(missing)
    return missing


def ensure_qemu_user() -> None:
    """Debian's libvirtd resolves user `libvirt-qemu` before reading qemu.conf and disables
    its QEMU driver without it ("Failed to parse user 'libvirt-qemu'");
    libvirt-daemon-system would create it, the lab does not install that package."""
    for group in (QEMU_USER, "kvm"):
        try:
            grp.getgrnam(group)
        except KeyError:
            run(["groupadd", "--system", group])
    try:
        pwd.getpwnam(QEMU_USER)
    except KeyError:
        run(
            [
                "useradd",
                "--system",
                "--gid",
                QEMU_USER,
                "--groups",
                "kvm",
                "--home-dir",
                "/var/lib/libvirt",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                QEMU_USER,
            ]
        )
