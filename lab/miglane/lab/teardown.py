"""Taking a lab down: stopping what it started and removing what is left of it, also after a
crash half-way (the state file may be missing; the running system is searched)."""

from __future__ import annotations

import contextlib
import shutil

from . import agents, libvirtd, storage
from . import network as nets
from .errors import LabError
from .layout import LabPaths
from .plan import HostPlan, LabPlan, Network, host_index, plan_lab
from .processes import netns_inode, pids_in_netns, stop_processes
from .state import HostRecord, load_state


def tear_down(paths: LabPaths, slot: int) -> None:
    """Stops every process of the lab under `paths` (agents, daemons, QEMU, anything else in
    its namespaces), removes namespaces, links, bridges and host state. `slot`: the lab's own,
    used when neither the state file nor the bridges say which. The caller holds the lock."""
    base = str(paths.base)
    try:
        state = load_state(paths.state_file)
    except LabError:
        state = None
    records = list(state.hosts) if state else []
    known = {record.name for record in records}
    records += [HostRecord(name) for name in host_dirs(paths) if name not in known]
    # without a state file, the bridges remember which lab made them
    slot = state.slot if state else next(iter(nets.slots_owned_by(base)), slot)
    indices = [host_index(record.name) for record in records]
    plan = plan_lab(slot, max(indices, default=0))
    owned = _slot_owned_by(plan, base)
    if owned:
        leftovers = _leftover_netns_indices(plan)
        plan = plan_lab(slot, max([*indices, *leftovers], default=0))
    # when another lab owns this slot's names, touch only our own processes
    stop_hosts(paths, records, list(plan.hosts) if owned else [])
    storage.stop_daemon(paths.storage_dir)
    if owned:
        for host in plan.hosts:
            nets.remove_host_network(host)
        nets.remove_bridges(plan)
    shutil.rmtree(paths.hosts_dir, ignore_errors=True)
    shutil.rmtree(paths.storage_dir, ignore_errors=True)
    paths.state_file.unlink(missing_ok=True)


def stop_hosts(paths: LabPaths, records: list[HostRecord], sweep: list[HostPlan]) -> None:
    """Agents first, then daemons with their tini, then the QEMU they left, then whatever
    else runs inside the namespaces of the `sweep` hosts; all hosts at once."""
    inodes = {host.name: netns_inode(nets.netns_path(host.netns)) for host in sweep}
    agent_pids, daemon_pids, qemu_pids = [], [], []
    for record in records:
        host_paths = paths.host(record.name)
        if agents.is_agent(record.agent_pid, host_paths):
            agent_pids.append(record.agent_pid or 0)
        daemon_pids += libvirtd.daemon_pids(host_paths, record.tini_pid, record.daemon_pid)
        qemu_pids += libvirtd.qemu_pids(host_paths, inodes.get(record.name), f"{paths.guest_dir}/")
    stop_processes(agent_pids)
    stop_processes(daemon_pids)
    stop_processes(qemu_pids)
    stop_processes(pids_in_netns(inode for inode in inodes.values() if inode), grace=2)


def host_dirs(paths: LabPaths) -> list[str]:
    """Names of the hosts that have a directory, whether or not the state file knows them."""
    names = []
    if paths.hosts_dir.is_dir():
        for entry in paths.hosts_dir.iterdir():
            with contextlib.suppress(ValueError):
                host_index(entry.name)
                names.append(entry.name)
    return names


def _slot_owned_by(plan: LabPlan, base: str) -> bool:
    owners = {nets.bridge_owner(plan.bridge(which)) for which in Network}
    return owners <= {None, base}


def _leftover_netns_indices(plan: LabPlan) -> list[int]:
    prefix = plan.netns_pattern()
    return [
        int(name[len(prefix) :])
        for name in nets.list_netns()
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    ]
