"""Starting the hosts' libvirtd daemons (each under tini): the first alone when QEMU's
capabilities have not been probed yet, so the others start from its results."""

from __future__ import annotations

import subprocess

from . import libvirtd
from .layout import LabPaths
from .plan import HostPlan, LabPlan
from .processes import stop_processes
from .state import LabState, save_state


def start_daemons(
    paths: LabPaths, plan: LabPlan, state: LabState, children: list[subprocess.Popen[bytes]]
) -> None:
    """Starts every host's daemon that does not run, recording PIDs in `state` and the tini
    processes in `children` (reaped by the lab on down)."""
    to_start = []
    for host in plan.hosts:
        host_paths = paths.host(host.name)
        record = state.host(host.name)
        running = libvirtd.daemon_pid(host_paths)
        if running:
            record.daemon_pid = running
            continue
        # a daemon that lost its pid file, or a tini without its daemon: not twice
        stop_processes(libvirtd.daemon_pids(host_paths, record.tini_pid, record.daemon_pid))
        libvirtd.write_config(host, host_paths)
        to_start.append(host)
    seed = paths.capabilities_seed
    if to_start and not any(seed.glob("*.xml")):
        # Nothing to seed from yet: the first daemon probes QEMU alone (~1.5 s), the others
        # start from its results.
        first = to_start.pop(0)
        _start_and_wait(paths, state, [first], children)
        libvirtd.save_capabilities(paths.host(first.name), seed)
    _start_and_wait(paths, state, to_start, children)


def _start_and_wait(
    paths: LabPaths,
    state: LabState,
    hosts: list[HostPlan],
    children: list[subprocess.Popen[bytes]],
) -> None:
    starting = {}
    for host in hosts:
        host_paths = paths.host(host.name)
        libvirtd.seed_capabilities(paths.capabilities_seed, host_paths)
        tini = libvirtd.start(host, host_paths)
        children.append(tini)
        state.host(host.name).tini_pid = tini.pid
        starting[host.name] = (host_paths, tini)
    save_state(paths.state_file, state)
    libvirtd.wait_ready(starting)
    for host in hosts:
        state.host(host.name).daemon_pid = libvirtd.daemon_pid(paths.host(host.name))
    save_state(paths.state_file, state)
