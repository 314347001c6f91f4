"""What a VM's disks and vNICs decide about moving it: the networks a destination must have
(a host has a network when its agent reports a NIC, i.e. a bridge, of that name), whether the
cluster's policy lets its local disks be copied, and the sentences that say so."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from miglane.engine.domain.model import Cluster, Host, Vm, VmDisk

GIB = 1024**3


def size_label(size_bytes: int) -> str:
    """ "1.0 GiB", "512 MiB"; "size unknown" for 0."""
    if not size_bytes:
        return "size unknown"
    if size_bytes >= GIB:
        return f"{size_bytes / GIB:.1f} GiB"
    return f"{size_bytes / 1024**2:.0f} MiB"


def missing_networks(host: Host, vm_networks: Collection[str]) -> tuple[str, ...]:
    """The networks of `vm_networks` (in their order) for which `host` reports no NIC."""
    if not vm_networks:
        return ()
    present = {nic.name for nic in host.nics}
    return tuple(network for network in vm_networks if network not in present)


def missing_network_sentence(host_name: str, vm_name: str, networks: Sequence[str]) -> str:
    """ "host3 has no bridge for network 'prod-vlan' that web1's NIC uses" (several networks:
    "networks 'a', 'b' that web1's NICs use")."""
    if len(networks) == 1:
        return f"{host_name} has no bridge for network {networks[0]!r} that {vm_name}'s NIC uses"
    shown = ", ".join(repr(network) for network in networks)
    return f"{host_name} has no bridge for networks {shown} that {vm_name}'s NICs use"


def _disk_words(disks: Sequence[VmDisk]) -> str:
    parts = ", ".join(f"{disk.target} {size_label(disk.size_bytes)}" for disk in disks)
    return f"a local disk ({parts})" if len(disks) == 1 else f"local disks ({parts})"


def local_disk_refusal(vm: Vm, cluster: Cluster) -> str | None:
    """Why `vm` may not live-migrate in `cluster` because of its local disks; None when it may
    (no local disk, or the policy allows copying them)."""
    local = vm.local_disks
    if not local or cluster.policy.local_disk_migration:
        return None
    return (
        f"VM {vm.name or vm.id!r} has {_disk_words(local)} and cluster {cluster.name!r} does "
        "not allow copying local disks (policy local_disk_migration is off)"
    )


def copies_local_disks(vm: Vm | None, cluster: Cluster) -> bool:
    """Whether migrating `vm` in `cluster` copies its local disks (it has some and the policy
    allows copying them)."""
    return vm is not None and bool(vm.local_disks) and cluster.policy.local_disk_migration


def disk_copy(vm: Vm | None, cluster: Cluster, migration_uri: str) -> tuple[bool, str]:
    """The migrate call's `(copy_local_disks, disks_uri)`: a VM with local disks in a cluster
    that allows copying them sends them to the address its memory goes to (`migration_uri`,
    "tcp://ADDRESS", the migration network's unless the migration fell back), so the copy rides
    the same network; otherwise no copy."""
    if not copies_local_disks(vm, cluster):
        return False, ""
    return True, migration_uri
