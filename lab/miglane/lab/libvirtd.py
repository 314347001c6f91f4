"""One libvirtd per lab host: its files, its start under a sub-reaper, and its end.

Each daemon runs as `tini -s -- nsexec --netns ... --bind ... -- libvirtd`: tini is a
sub-reaper, so the QEMU processes libvirt double-forks are reaped at once (PID 1 here reaps
slowly, and libvirt then waits ~2 s on every QEMU exit); nsexec puts the daemon in the host's
network namespace and in a mount namespace of its own where the host's directories cover the
fixed paths of a root libvirtd (two root daemons otherwise fight over /run/libvirt).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from . import network
from .commands import tool
from .configs import render_libvirtd_conf, render_qemu_conf
from .errors import LabError
from .layout import LIBVIRT_SYSTEM_DIRS, SYSTEM_PKI_DIR, UNIX_SOCKET_PATH_MAX, HostPaths
from .plan import HostPlan
from .processes import cmdline, is_ours, is_running, process_netns_inode, read_pid_file
from .virsh import Virsh

DAEMON_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C",
    "HOME": "/root",
}


def local_uri(paths: HostPaths) -> str:
    """How a process on this machine reaches the daemon, from any namespace."""
    return f"qemu+unix:///system?socket={paths.socket}"


def peer_uri(host: HostPlan) -> str:
    """How other lab hosts reach the daemon: TLS on its management address (port 16514, which
    the certificate names as an IP SAN besides the host name). A client needs a certificate
    from the lab's CA: inside a host's mount namespace libvirt finds it in /etc/pki, a process
    outside adds `?pkipath=<host dir>/pki/client`."""
    return f"qemu+tls://{host.mgmt_addr}/system"


def write_config(host: HostPlan, paths: HostPaths) -> None:
    if len(str(paths.socket)) > UNIX_SOCKET_PATH_MAX:
        raise LabError(
            f"base directory too long: the socket path {paths.socket} exceeds "
            f"{UNIX_SOCKET_PATH_MAX} characters"
        )
    for key in LIBVIRT_SYSTEM_DIRS:
        paths.system_dir(key).mkdir(parents=True, exist_ok=True)
    for directory in (paths.socket_dir, paths.domains_dir, paths.qemu_log_dir):
        directory.mkdir(parents=True, exist_ok=True)
    paths.libvirtd_conf.write_text(render_libvirtd_conf(host, paths))
    paths.qemu_conf.write_text(render_qemu_conf(host))


def seed_capabilities(seed: Path, paths: HostPaths) -> None:
    """Copies probed QEMU capabilities in, so the daemon skips its ~1.5 s probe of QEMU
    (libvirt itself throws the copy away if the binaries changed since)."""
    if not seed.is_dir():
        return
    paths.capabilities_cache.mkdir(parents=True, exist_ok=True)
    for xml in seed.glob("*.xml"):
        target = paths.capabilities_cache / xml.name
        if not target.exists():
            shutil.copy2(xml, target)


def save_capabilities(paths: HostPaths, seed: Path) -> None:
    seed.mkdir(parents=True, exist_ok=True)
    for xml in paths.capabilities_cache.glob("*.xml"):
        shutil.copy2(xml, seed / xml.name)


def daemon_pid(paths: HostPaths) -> int | None:
    """PID of the host's running libvirtd, checked against its command line."""
    pid = read_pid_file(paths.libvirtd_pid_file)
    return pid if is_ours(pid, "libvirtd", str(paths.libvirtd_conf)) else None


def start(host: HostPlan, paths: HostPaths) -> subprocess.Popen[bytes]:
    """Starts the daemon (not waiting for it); returns the tini process."""
    paths.libvirtd_pid_file.unlink(missing_ok=True)
    for stale in paths.socket_dir.glob("*"):
        stale.unlink()
    binds = paths.system_binds()
    for target in LIBVIRT_SYSTEM_DIRS.values():
        Path(target).mkdir(parents=True, exist_ok=True)  # the mount point, on this machine
    Path(SYSTEM_PKI_DIR).mkdir(exist_ok=True)
    daemon = [
        tool("libvirtd"),
        "--listen",
        "--config",
        str(paths.libvirtd_conf),
        "--pid-file",
        str(paths.libvirtd_pid_file),
    ]
    argv = [tool("tini"), "-s", "--", *network.in_host_argv(host, daemon, sysfs=True, binds=binds)]
    with paths.daemon_log.open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=DAEMON_ENV,
            start_new_session=True,
        )


def wait_ready(
    starting: dict[str, tuple[HostPaths, subprocess.Popen[bytes]]], timeout: float = 60
) -> None:
    """Waits until every started daemon serves its QEMU driver; a LabError names the first that
    died or stayed silent, with the end of its log."""
    pending = dict(starting)
    deadline = time.monotonic() + timeout
    while pending:
        for name, (paths, tini) in list(pending.items()):
            if Virsh(local_uri(paths)).is_ready() and daemon_pid(paths):
                del pending[name]
            elif tini.poll() is not None:
                raise LabError(f"libvirtd of {name} exited at start; {_log_tail(paths)}")
        if pending and time.monotonic() > deadline:
            name, (paths, _) = next(iter(pending.items()))
            raise LabError(f"libvirtd of {name} not ready after {timeout:g} s; {_log_tail(paths)}")
        if pending:
            time.sleep(0.05)


def _log_tail(paths: HostPaths, lines: int = 8) -> str:
    text = []
    for log in (paths.daemon_log, paths.libvirtd_log):
        try:
            tail = log.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            continue
        if tail:
            text.append(f"{log}:\n  " + "\n  ".join(tail))
    return "\n".join(text) or f"no log in {paths.root}"


def daemon_pids(paths: HostPaths, tini_pid: int | None, daemon_pid_seen: int | None) -> list[int]:
    """The host's libvirtd and its tini, each checked against its command line."""
    pids = []
    for pid in {daemon_pid(paths), daemon_pid_seen}:
        if is_ours(pid, "libvirtd", str(paths.libvirtd_conf)):
            pids.append(pid or 0)
    if is_ours(tini_pid, "tini", str(paths.libvirtd_conf)):
        pids.append(tini_pid or 0)
    return pids


def qemu_pids(paths: HostPaths, netns_inode: int | None, lab_marker: str) -> list[int]:
    """QEMU processes the host's daemon started, by libvirt's pid files (they outlive a killed
    daemon). A reused PID is not ours: the process must run in the host's network namespace,
    or boot a kernel from the lab's directory (`lab_marker`)."""
    pids = []
    for pid_file in sorted(paths.qemu_pid_dir.glob("*.pid")):
        pid = read_pid_file(pid_file)
        if not pid or not is_running(pid):
            continue
        argv = cmdline(pid)
        if not argv or "qemu-system" not in argv[0]:
            continue
        in_host = netns_inode is not None and process_netns_inode(pid) == netns_inode
        if in_host or any(lab_marker in arg for arg in argv):
            pids.append(pid)
    return pids
