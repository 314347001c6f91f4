"""The sentences people read about migrations and host maintenance: event messages, queue
reasons and failure reasons, built from plain values."""

from __future__ import annotations

from miglane.engine.domain.model import MIB, FallbackReason, PathProof
from miglane.engine.domain.retry import MAX_DESTINATION_REFUSALS


def queued(vm_name: str, source: str, destination: str) -> str:
    """MIGRATION_QUEUED of MigrateVm; `destination` empty: the scheduler chooses."""
    where = f"to {destination}" if destination else "(the scheduler chooses the destination)"
    return f"migration of VM {vm_name!r} from {source} {where} requested"


def already_migrating(vm_name: str, migration_id: str) -> str:
    """MigrateVm refused: the VM has an active migration."""
    return (
        f"VM {vm_name!r} is already migrating (migration {migration_id}); cancel it or wait for it"
    )


def queued_for_evacuation(vm_name: str, host: str) -> str:
    return f"migration of VM {vm_name!r} queued to evacuate host {host!r}"


def priority_changed(vm_name: str, previous: str, priority: str) -> str:
    return f"migration priority of VM {vm_name!r} changed from {previous} to {priority}"


def fell_back(vm_name: str, source: str, destination: str, detail: str) -> str:
    return (
        f"migration of VM {vm_name!r} from {source} to {destination} falls back to the "
        f"management network: {detail}"
    )


def started(
    vm_name: str,
    source: str,
    destination: str,
    fallback_reason: FallbackReason,
    migration_uri: str,
    max_bandwidth_mibps: int,
    help_reason: str = "",
) -> str:
    """MIGRATION_STARTED; `help_reason`: `started_with_help`'s sentence, when it has a help."""
    over = (
        "the migration network"
        if fallback_reason is FallbackReason.NONE
        else "the management network"
    )
    cap = f"{max_bandwidth_mibps} MiB/s" if max_bandwidth_mibps else "no bandwidth cap"
    return (
        f"migration of VM {vm_name!r} from {source} to {destination} started over {over} "
        f"({migration_uri}, {cap})" + (f"; {help_reason}" if help_reason else "")
    )


def off_path(vm_name: str, source: str, destination: str, proof: PathProof, uri: str) -> str:
    """MIGRATION_OFF_PATH: the source's NIC counters show the data left by another NIC."""
    elsewhere = (
        f"; {proof.other_nic} sent {proof.other_nic_tx_bytes / MIB:.0f} MiB meanwhile"
        if proof.other_nic
        else ""
    )
    return (
        f"migration of VM {vm_name!r} from {source} to {destination} did not leave {source} by "
        f"{proof.nic or 'the NIC'} of the network chosen for it: {proof.nic or 'that NIC'} sent "
        f"{proof.nic_tx_bytes / MIB:.0f} MiB for {proof.data_bytes / MIB:.0f} MiB of migration "
        f"data{elsewhere}; check how {source} routes to {uri}"
    )


def failed(vm_name: str, reason: str) -> str:
    return f"migration of VM {vm_name!r} failed: {reason}"


def cannot_leave_for_maintenance(vm_name: str, reason: str, host: str = "") -> str:
    """VM_UNPLACED: a VM of a host entering maintenance that no host can take."""
    where = f"host {host!r}" if host else "its host"
    return f"VM {vm_name!r} cannot leave {where} for maintenance: {reason}"


def rerun(reason: str, rerun_id: str) -> str:
    return f"{reason} (migration {rerun_id})"


def cancelled_before_start(vm_name: str) -> str:
    return f"migration of VM {vm_name!r} cancelled before it started"


def cancelled_while_queued(vm_name: str) -> str:
    return f"queued migration of VM {vm_name!r} cancelled"


def evacuation_cancelled(vm_name: str, host: str) -> str:
    return f"queued evacuation of VM {vm_name!r} cancelled: host {host!r} leaves maintenance"


def evacuating(queued: int, already_migrating: int, unplaced: int) -> str:
    """The status reason of a host preparing for maintenance."""
    return (
        f"evacuating: {queued} VM(s) queued, {already_migrating} already migrating, "
        f"{unplaced} no host can take"
    )


MAINTENANCE_WITHOUT_VMS = "maintenance requested; no VM to move"
EVACUATED = "evacuated; held out of service"
WAITING_FOR_QUEUE = "waiting for the queue runner"
RERUN_WAITING = "rerun after a failure; waiting for the queue runner"
EVACUATION_WAITING = "evacuation; waiting for the queue runner"
RESTARTED_BEFORE_START = "the engine restarted before it started"


# ---------------------------------------------------------------- refusals of the source agent


def source_unreachable(source: str, detail: str) -> str:
    return f"source host {source}'s agent: {detail}; retrying"


def source_busy(source: str, detail: str, retry_at: str) -> str:
    return f"source host {source}'s agent answered busy ({detail}); retrying after {retry_at}"


def destination_refused(destination: str, detail: str, refusals: int) -> str:
    return (
        f"destination host {destination} refused or was unreachable ({detail}); retry "
        f"{refusals} of {MAX_DESTINATION_REFUSALS - 1}"
    )


def source_refused(source: str, detail: str) -> str:
    return f"source host {source}'s agent refused: {detail}"


# ---------------------------------------------------------------- admission by the prediction


def started_with_help(help_name: str, why: str) -> str:
    """Why a migration started with a help: plain pre-copy would not converge."""
    return f"started with {help_name}: {why}"


def started_with_larger_share(granted_mibps: int, fair_mibps: float, why: str) -> str:
    """Why a migration started with a larger share of its link than its fair one."""
    return (
        f"started with a larger share: {granted_mibps} MiB/s of its link, taken from the others "
        f"there, instead of its fair {fair_mibps:.0f} MiB/s, at which it would not converge: "
        f"{why}"
    )


def waits_for_bandwidth(needed_mibps: int, dirty_mibps: float, free_mibps: float) -> str:
    """The queue reason of a migration that converges once `needed_mibps` is free."""
    return (
        f"waits for {needed_mibps} MiB/s: it dirties {dirty_mibps:.0f} MiB/s; "
        f"{free_mibps:.0f} MiB/s free now"
    )


def never_converges_here(
    needed_mibps: int | None, dirty_mibps: float, most_mibps: float, why: str
) -> str:
    """The queue reason of a migration that converges at no bandwidth its link gives it."""
    needs = (
        f"needs {needed_mibps} MiB/s, more than the {most_mibps:.0f} MiB/s its link gives it"
        if needed_mibps is not None
        else f"converges at no bandwidth (it dirties {dirty_mibps:.0f} MiB/s)"
    )
    return (
        f"waits: {needs}; {why}; allow auto-converge or post-copy in the cluster's policy, "
        "or migrate it with a bandwidth of its own"
    )


def would_stall(vm_name: str, slowed_mibps: float) -> str:
    """The queue reason of a migration whose start would slow a running one below what
    converges."""
    return (
        f"waits: starting it would slow the migration of VM {vm_name!r} to "
        f"{slowed_mibps:.0f} MiB/s, at which it would not converge"
    )


def plan_outgoing(host_name: str, sending: int, planned: int) -> str:
    """The queue reason of an evacuation migration held to its plan's migrations at once."""
    return (
        f"source host {host_name} has {sending} of the {planned} outgoing migrations its "
        "evacuation plan runs at once (fewer at once get more of its link each and finish "
        "sooner)"
    )
