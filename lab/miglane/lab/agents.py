"""One Miglane agent per lab host, inside the host's network namespace."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from miglane.pki import CERT

from . import network
from .errors import LabError
from .layout import HostPaths
from .libvirtd import peer_uri
from .pki import host_credentials_dir, lab_pki_dir
from .plan import HostPlan
from .processes import is_ours


def pki_dir(base: Path) -> Path:
    """The lab's certificate authority: an engine driving the lab's agents uses it as its
    PKI directory (`miglane engine --pki-dir`), so the agents obey that engine."""
    return lab_pki_dir(base)


def agent_credentials(base: Path, host: HostPlan) -> Path:
    """The host's credentials, issued by the lab's CA for the host's name, its management and
    its migration address when the lab came up (`pki.provision_lab_pki`)."""
    directory = host_credentials_dir(base, host.name)
    if not (directory / CERT).exists():
        raise LabError(f"{host.name} has no credentials in {directory}: run `miglane lab up`")
    return directory


def agent_argv(
    host: HostPlan, paths: HostPaths, port: int, libvirt_uri: str, credentials: Path
) -> list[str]:
    """`miglane agent` serving on the host's management address, managing its libvirtd."""
    return [
        sys.executable,
        "-m",
        "miglane.cli.main",
        "agent",
        "--listen",
        f"{host.mgmt_addr}:{port}",
        "--libvirt-uri",
        libvirt_uri,
        "--state-dir",
        str(paths.agent_state_dir),
        "--peer-uri",
        peer_uri(host),
        "--save-dir",
        str(paths.agent_save_dir),
        "--credentials",
        str(credentials),
    ]


def is_agent(pid: int | None, paths: HostPaths) -> bool:
    return is_ours(pid, "miglane.cli.main", "agent", str(paths.agent_state_dir))


def start(
    host: HostPlan, paths: HostPaths, port: int, libvirt_uri: str, credentials: Path
) -> subprocess.Popen[bytes]:
    paths.agent_state_dir.mkdir(parents=True, exist_ok=True)
    # In a mount namespace of its own like its daemon's, with the host's /etc/pki and
    # /etc/hosts: its own libvirt connections to peers (qemu+tls://) use the host's identity.
    argv = network.in_host_argv(
        host,
        agent_argv(host, paths, port, libvirt_uri, credentials),
        binds=paths.identity_binds(),
    )
    with paths.agent_log.open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def accepts(addr: str, port: int) -> bool:
    try:
        with socket.create_connection((addr, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_listening(
    starting: dict[str, tuple[HostPlan, HostPaths, subprocess.Popen[bytes]]],
    port: int,
    timeout: float = 30,
) -> None:
    """Waits until each agent accepts TCP connections on its management address."""
    pending = dict(starting)
    deadline = time.monotonic() + timeout
    while pending:
        for name, (host, paths, process) in list(pending.items()):
            if accepts(host.mgmt_addr, port):
                del pending[name]
            elif process.poll() is not None:
                raise LabError(
                    f"agent of {name} exited with status {process.returncode}; "
                    f"see {paths.agent_log}:\n{_tail(paths)}"
                )
        if pending and time.monotonic() > deadline:
            name, (host, paths, _) = next(iter(pending.items()))
            raise LabError(
                f"agent of {name} does not accept on {host.mgmt_addr}:{port} after "
                f"{timeout:g} s; see {paths.agent_log}:\n{_tail(paths)}"
            )
        if pending:
            time.sleep(0.05)


def _tail(paths: HostPaths, lines: int = 10) -> str:
    try:
        return "\n".join(paths.agent_log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
