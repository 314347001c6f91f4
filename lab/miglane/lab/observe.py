"""A lab's status: its state file checked against the daemons, agents and links that run."""

from __future__ import annotations

import os
from typing import Any

from . import agents, libvirtd, pki
from . import network as nets
from .layout import LabPaths
from .plan import HostPlan, Network, plan_lab
from .state import HostRecord, load_state
from .status import HostStatus, LabStatus


def read_status(paths: LabPaths, slot: int) -> LabStatus:
    """The lab under `paths` as it runs now (`slot`: the lab's own when no state says which;
    links are read only when running as root)."""
    state = load_state(paths.state_file)
    slot = state.slot if state else slot
    plan = plan_lab(slot, len(state.hosts) if state else 0)
    root_links = nets.links() if os.geteuid() == 0 else {}
    records = {record.name: record for record in state.hosts} if state else {}
    hosts = [host_status(paths, host, records[host.name], root_links) for host in plan.hosts]
    if not hosts:
        lab_state = "down"
    elif all(h.daemon_running for h in hosts):
        lab_state = "up"
    else:
        lab_state = "degraded"
    return LabStatus(
        base_dir=str(paths.base),
        slot=slot,
        state=lab_state,
        mgmt_bridge=plan.bridge(Network.MGMT),
        mig_bridge=plan.bridge(Network.MIG),
        mgmt_subnet=str(plan.mgmt_subnet),
        mig_subnet=str(plan.mig_subnet),
        root_mgmt_addr=plan.root_mgmt_addr,
        mgmt_mbit=state.mgmt_mbit if state else None,
        mig_mbit=state.mig_mbit if state else None,
        guest_kernel=state.guest_kernel if state else None,
        hosts=tuple(hosts),
        pki_dir=str(pki.lab_pki_dir(paths.base)),
    )


def host_status(
    lab_paths: LabPaths, host: HostPlan, record: HostRecord, root_links: dict[str, dict[str, Any]]
) -> HostStatus:
    paths = lab_paths.host(host.name)
    daemon = libvirtd.daemon_pid(paths)
    agent_running = agents.is_agent(record.agent_pid, paths)
    return HostStatus(
        name=host.name,
        netns=host.netns,
        mgmt_addr=host.mgmt_addr,
        mig_addr=host.mig_addr,
        libvirt_uri=libvirtd.local_uri(paths),
        peer_uri=libvirtd.peer_uri(host),
        migration_uri=f"tcp://{host.mig_addr}",
        daemon_pid=daemon or record.daemon_pid,
        daemon_running=daemon is not None,
        links=tuple(nets.link_states(host, root_links)) if root_links else (),
        agent_addr=f"{host.mgmt_addr}:{record.agent_port}" if agent_running else None,
        agent_pid=record.agent_pid if agent_running else None,
        host_dir=str(paths.root),
        credentials_dir=str(pki.host_credentials_dir(lab_paths.base, host.name)),
        client_pki_dir=str(paths.libvirt_client_pki),
        qemu_tls_dir=str(paths.qemu_tls_dir),
    )
