"""Which host a VM is on after a poll round: the agents' lists weighed against the engine's own
knowledge of the migrations in flight.

Agents answer at slightly different moments, so during a migration two hosts may list the same
VM, or none may."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from miglane.engine.domain.model import Vm, VmState

# A VM reported by several hosts belongs to the first state here that one of them reports.
_STATE_RANK = {
    VmState.MIGRATING: 0,
    VmState.RUNNING: 1,
    VmState.PAUSED: 2,
    VmState.CRASHED: 3,
    VmState.SAVED: 4,
    VmState.UNSPECIFIED: 5,
    VmState.SHUT_OFF: 6,
}


def assign_vms(
    reports: Mapping[str, Sequence[Vm]],
    known: Mapping[str, Vm],
    hints: Mapping[str, str],
) -> dict[str, list[Vm]]:
    """Each host's VMs after one round. `reports` are the VMs each reachable host listed,
    `known` the VMs on record (by id), `hints` where the engine's migrations say a VM in
    flight is (its source while it migrates, its destination just after).

    A VM several hosts list belongs to the hinted one, else to the one where it is most
    alive. A VM in flight that no host lists (between the source letting go and the
    destination listing it) stays where the hint says, instead of vanishing for a round; when
    the hinted host is not in this round (streamed hosts report on their own: the source said
    the VM left, the destination has not said it arrived), it stays where it is on record."""
    owner: dict[str, tuple[int, str]] = {}
    for host_id, vms in reports.items():
        for vm in vms:
            rank = -1 if hints.get(vm.id) == host_id else _STATE_RANK.get(vm.state, 5)
            if vm.id not in owner or rank < owner[vm.id][0]:
                owner[vm.id] = (rank, host_id)
    assigned = {
        host_id: [vm for vm in vms if owner[vm.id][1] == host_id]
        for host_id, vms in reports.items()
    }
    for vm_id, host_id in hints.items():
        on_record = known.get(vm_id)
        if vm_id in owner or on_record is None:
            continue
        if host_id in assigned:
            assigned[host_id].append(on_record)
        elif on_record.host_id in assigned:
            assigned[on_record.host_id].append(on_record)
    return assigned
