"""The engine's inventory as plain, immutable values.

Enums carry the same numbers as their `miglane.v1` counterparts (a test checks it), including
the `UNSPECIFIED = 0` member, so converting is a lookup by value and validating what a client
left unset stays a domain decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum, IntEnum


class NetworkRole(IntEnum):
    UNSPECIFIED = 0
    MANAGEMENT = 1
    DISPLAY = 2
    MIGRATION = 3

    @property
    def label(self) -> str:
        return self.name.lower()


ASSIGNABLE_ROLES: tuple[NetworkRole, ...] = (
    NetworkRole.MANAGEMENT,
    NetworkRole.DISPLAY,
    NetworkRole.MIGRATION,
)


class MigrationPhase(IntEnum):
    UNSPECIFIED = 0
    QUEUED = 1
    PREPARING = 2
    RUNNING = 3
    COMPLETED = 4
    FAILED = 5
    CANCELLED = 6

    @property
    def label(self) -> str:
        return self.name.lower()


# A migration in one of these phases holds the cluster's migration role in place.
ACTIVE_PHASES: frozenset[MigrationPhase] = frozenset(
    {MigrationPhase.QUEUED, MigrationPhase.PREPARING, MigrationPhase.RUNNING}
)


class ConvergenceVerdict(IntEnum):
    """Whether a migration is predicted to finish (`domain.prediction`); mirrors
    `miglane.v1.ConvergenceVerdict`."""

    UNSPECIFIED = 0
    # Plain pre-copy reaches the allowed downtime.
    CONVERGES = 1
    # Only with auto-converge or post-copy (which the cluster's policy allows).
    CONVERGES_ONLY_WITH_HELP = 2
    # Not at this bandwidth with what the cluster's policy allows.
    NEVER_CONVERGES = 3


class Help(Enum):
    """What makes a migration finish when plain pre-copy does not (`domain.prediction`)."""

    NONE = "none"
    AUTO_CONVERGE = "auto-converge"
    POST_COPY = "post-copy"


class MigrationPriority(IntEnum):
    """How much a VM's migration matters to the admin (`domain.priority`): the higher one is
    admitted first and gets the larger AUTO share of a link."""

    UNSPECIFIED = 0
    LOW = 1
    NORMAL = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class FallbackReason(IntEnum):
    UNSPECIFIED = 0
    NONE = 1
    NO_MIGRATION_NETWORK = 2
    DESTINATION_NOT_ATTACHED = 3
    DESTINATION_LINK_DOWN = 4
    SOURCE_LINK_DOWN = 5
    NO_ADDRESS = 6
    LEGACY_CLUSTER = 7
    SOURCE_NOT_ATTACHED = 8


class VmState(IntEnum):
    UNSPECIFIED = 0
    RUNNING = 1
    PAUSED = 2
    SHUT_OFF = 3
    MIGRATING = 4
    CRASHED = 5
    SAVED = 6


class DiskKind(IntEnum):
    UNSPECIFIED = 0
    # Network storage every host reaches: only memory moves.
    SHARED = 1
    # An image private to its host: a live migration copies it to the destination.
    LOCAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class HostStatus(IntEnum):
    UNSPECIFIED = 0
    UP = 1
    NON_OPERATIONAL = 2
    UNREACHABLE = 3
    MAINTENANCE = 4
    PREPARING_FOR_MAINTENANCE = 5

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


class BandwidthMode(IntEnum):
    UNSPECIFIED = 0
    AUTO = 1
    HYPERVISOR_DEFAULT = 2
    CUSTOM = 3


class ConvergencePolicy(IntEnum):
    UNSPECIFIED = 0
    MINIMAL_DOWNTIME = 1
    SUSPEND_WORKLOAD_IF_NEEDED = 2
    POST_COPY = 3


# The actor of what the engine does on its own (queue passes, reruns, evacuations, polls).
ENGINE_ACTOR = "engine"


class EventType(IntEnum):
    UNSPECIFIED = 0
    CLUSTER_CREATED = 1
    CLUSTER_UPDATED = 2
    CLUSTER_DELETED = 3
    NETWORK_CREATED = 4
    NETWORK_UPDATED = 5
    NETWORK_DELETED = 6
    ROLE_GRANTED = 7
    ROLE_TAKEN = 8
    ROLE_MOVED = 9
    HOST_ADDED = 10
    HOST_REMOVED = 11
    HOST_STATUS_CHANGED = 12
    MIGRATION_QUEUED = 13
    MIGRATION_STARTED = 14
    MIGRATION_FELL_BACK = 15
    MIGRATION_COMPLETED = 16
    MIGRATION_FAILED = 17
    MIGRATION_CANCELLED = 18
    MIGRATION_RERUN = 19
    VM_UNPLACED = 20
    CERTIFICATE_EXPIRING = 21
    MIGRATION_OFF_PATH = 22
    VM_PRIORITY_CHANGED = 23


class EventSeverity(IntEnum):
    UNSPECIFIED = 0
    INFO = 1
    WARNING = 2
    ERROR = 3


# ---------------------------------------------------------------- clusters

DEFAULT_MAX_OUTGOING_PER_HOST = 2
DEFAULT_MAX_INCOMING_PER_HOST = 2
DEFAULT_NO_PROGRESS_TIMEOUT_S = 150
DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB = 800
# A local-disk migration's share of the cap any other migration would get: the same.
DEFAULT_LOCAL_DISK_BANDWIDTH_PERCENT = 100
# What migrations falling back to the management network may use together on one management
# link, Mbit/s (the reasoning is in `bandwidth`'s docstring).
DEFAULT_MANAGEMENT_MIGRATION_BUDGET_MBPS = 100


@dataclass(frozen=True)
class MigrationPolicy:
    """A cluster's migration policy.

    Stored policies have every default resolved; client input may still say "0 / UNSPECIFIED:
    the default", which `validation.resolve_policy` turns into a stored one.
    """

    bandwidth_mode: BandwidthMode = BandwidthMode.AUTO
    custom_mibps: int = 0
    max_outgoing_per_host: int = DEFAULT_MAX_OUTGOING_PER_HOST
    max_incoming_per_host: int = DEFAULT_MAX_INCOMING_PER_HOST
    # 0: no cluster-wide limit.
    max_concurrent_per_cluster: int = 0
    convergence: ConvergencePolicy = ConvergencePolicy.MINIMAL_DOWNTIME
    # Guest memory crosses the migration network in QEMU's TLS: on unless a policy turns it
    # off (recorded in the cluster-updated event).
    encrypted: bool = True
    compressed: bool = False
    auto_converge: bool = False
    # 0 or 1: a single connection.
    parallel_connections: int = 0
    no_progress_timeout_s: int = DEFAULT_NO_PROGRESS_TIMEOUT_S
    completion_timeout_s_per_gib: int = DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB
    # Whether VMs with local disks may live-migrate (their disks copied over the migration
    # network): off unless a policy turns it on, since the copy is the biggest load of all.
    local_disk_migration: bool = False
    # The percentage (1..100) of the cap it would otherwise get that a migration copying local
    # disks gets: lower keeps a long disk copy from crowding out the other migrations' memory.
    local_disk_bandwidth_percent: int = DEFAULT_LOCAL_DISK_BANDWIDTH_PERCENT
    # Mbit/s that all migrations falling back to the management network may use together on
    # one management link (AUTO); the management traffic keeps the rest.
    management_migration_budget_mbps: int = DEFAULT_MANAGEMENT_MIGRATION_BUDGET_MBPS

    def with_defaults(self) -> MigrationPolicy:
        """The one place "0 / UNSPECIFIED: the default" is resolved (stored policies already
        are; limits and tuning also accept client input that is not)."""
        return replace(
            self,
            bandwidth_mode=self.bandwidth_mode or BandwidthMode.AUTO,
            max_outgoing_per_host=self.max_outgoing_per_host or DEFAULT_MAX_OUTGOING_PER_HOST,
            max_incoming_per_host=self.max_incoming_per_host or DEFAULT_MAX_INCOMING_PER_HOST,
            convergence=self.convergence or ConvergencePolicy.MINIMAL_DOWNTIME,
            no_progress_timeout_s=self.no_progress_timeout_s or DEFAULT_NO_PROGRESS_TIMEOUT_S,
            completion_timeout_s_per_gib=(
                self.completion_timeout_s_per_gib or DEFAULT_COMPLETION_TIMEOUT_S_PER_GIB
            ),
            local_disk_bandwidth_percent=(
                self.local_disk_bandwidth_percent or DEFAULT_LOCAL_DISK_BANDWIDTH_PERCENT
            ),
            management_migration_budget_mbps=(
                self.management_migration_budget_mbps or DEFAULT_MANAGEMENT_MIGRATION_BUDGET_MBPS
            ),
        )


@dataclass(frozen=True)
class Cluster:
    id: str
    name: str
    compatibility_version: str
    policy: MigrationPolicy
    description: str
    created_at: datetime
    # Read from the role table, never written through the cluster.
    migration_network_id: str = ""
    management_network_id: str = ""
    display_network_id: str = ""


# ---------------------------------------------------------------- networks


@dataclass(frozen=True)
class Network:
    id: str
    cluster_id: str
    name: str
    # Normalized CIDR ("10.0.2.0/24", "fd00:2::/64").
    subnet: str
    required: bool = False
    # Read from the role table, sorted; never written through the network.
    roles: tuple[NetworkRole, ...] = ()
    # None: no QoS.
    qos_mbps: int | None = None
    description: str = ""
    created_at: datetime | None = None

    def holds(self, role: NetworkRole) -> bool:
        return role in self.roles


# ---------------------------------------------------------------- hosts


@dataclass(frozen=True)
class Nic:
    """A host NIC as the agent reports it."""

    name: str
    addresses: tuple[str, ...] = ()
    link_up: bool = True
    speed_mbps: int = 0
    mtu: int = 0
    mac: str = ""
    rx_bytes: int = 0
    tx_bytes: int = 0


@dataclass(frozen=True)
class Attachment:
    """A host's presence on one logical network, derived from its NICs."""

    network_id: str
    network_name: str
    nic: str
    # Inside the network's subnet, without prefix length.
    address: str
    link_up: bool
    speed_mbps: int = 0
    mtu: int = 0
    # Why this NIC/address when several qualified; empty otherwise.
    note: str = ""


@dataclass(frozen=True)
class HostFacts:
    """What the agent says about its host (filled by agent polling)."""

    host_uuid: str = ""
    hostname: str = ""
    peer_libvirt_uri: str = ""
    cpus: int = 0
    memory_mib: int = 0
    free_memory_mib: int = 0
    libvirt_version: str = ""
    qemu_version: str = ""
    # How many outgoing migrations the agent runs at once (0: not reported).
    max_outgoing_migrations: int = 0


@dataclass(frozen=True)
class Host:
    id: str
    cluster_id: str
    name: str
    agent_address: str
    status: HostStatus
    status_reason: str
    created_at: datetime
    nics: tuple[Nic, ...] = ()
    facts: HostFacts = field(default_factory=HostFacts)
    last_seen_at: datetime | None = None


# What the scheduler reads of a host view, in one tuple: the host's id; its cluster's id when it
# is UP, else None; its free memory (MiB); its incoming migrations; its link speed (Mbit/s) on
# each network it is attached to; the networks on which its end is usable (link up, an address
# QEMU can be sent to); the names of its NICs (the bridges a VM's vNICs need).
PlacementRow = tuple[str, str | None, int, int, dict[str, int], frozenset[str], frozenset[str]]


@dataclass(frozen=True)
class HostView:
    """A host with what the engine derives on read: attachments and migration counts."""

    host: Host
    attachments: tuple[Attachment, ...] = ()
    outgoing_migrations: int = 0
    incoming_migrations: int = 0
    # When the host's newest live certificate from the engine's CA ends (None: it has none);
    # the CA's records own it, the host services fill it in on read.
    certificate_not_after: datetime | None = None
    # While it prepares for maintenance: its live VMs left, and when its evacuation's plan
    # predicts the last of its migrations to end (None: no prediction).
    evacuation_vms_left: int = 0
    evacuation_finish_at: datetime | None = None
    # What the scheduler reads of this view (`placement.placement_row`): derived once, when the
    # engine reads its hosts (the view never changes), so that a placement over thousands of
    # hosts reads one tuple per host. None until derived.
    placement_row: PlacementRow | None = field(default=None, init=False, repr=False, compare=False)


# ---------------------------------------------------------------- VMs


MIB = 1024 * 1024


@dataclass(frozen=True)
class VmDisk:
    """One disk of a VM, as its agent reads it from the domain."""

    # The guest's device name, e.g. "vda".
    target: str
    kind: DiskKind = DiskKind.UNSPECIFIED
    # 0: unknown.
    size_bytes: int = 0
    # "raw", "qcow2"; empty when unknown.
    format: str = ""
    # A local path or a network source ("nbd://10.0.0.1/vm-vda").
    source: str = ""


@dataclass(frozen=True)
class VmNic:
    """One vNIC of a VM: the network (host bridge) it needs wherever the VM runs."""

    network: str
    mac: str = ""


@dataclass(frozen=True)
class DirtyRateSample:
    """How fast a running VM dirtied its memory (bytes per second), measured by its agent
    without migrating it, and when (epoch seconds); with the working set it kept rewriting
    (bytes: a pre-copy round resends no more), 0 when its dirtying is not bounded by one or
    that is not known."""

    bytes_per_second: int
    measured_at: float
    working_set_bytes: int = 0


# How many dirty-rate measurements the engine keeps per VM.
DIRTY_RATE_HISTORY_LENGTH = 20


def with_dirty_rate(
    history: tuple[DirtyRateSample, ...], reported: DirtyRateSample | None
) -> tuple[DirtyRateSample, ...]:
    """`history` (oldest first) with `reported` appended when it is newer than the last one,
    keeping the last DIRTY_RATE_HISTORY_LENGTH."""
    if reported is None or (history and reported.measured_at <= history[-1].measured_at):
        return history
    return (*history, reported)[-DIRTY_RATE_HISTORY_LENGTH:]


@dataclass(frozen=True)
class Vm:
    id: str
    name: str
    host_id: str
    cluster_id: str
    state: VmState
    memory_mib: int = 0
    # Derived on read: the VM's active migration, empty when none. Never written.
    migration_id: str = ""
    # As the VM's agent last reported them.
    disks: tuple[VmDisk, ...] = ()
    nics: tuple[VmNic, ...] = ()
    # Its agent's dirty-rate measurements, oldest first (an agent report carries the latest).
    dirty_rates: tuple[DirtyRateSample, ...] = ()
    # Set by an admin (SetVmMigrationPriority); an agent report never changes it.
    priority: MigrationPriority = MigrationPriority.NORMAL

    @property
    def dirty_rate(self) -> DirtyRateSample | None:
        """The latest measurement, None before the first."""
        return self.dirty_rates[-1] if self.dirty_rates else None

    @property
    def local_disks(self) -> tuple[VmDisk, ...]:
        """The disks a live migration must copy."""
        return tuple(disk for disk in self.disks if disk.kind is DiskKind.LOCAL)

    @property
    def networks(self) -> tuple[str, ...]:
        """The networks its vNICs need on a destination, each once, in the NICs' order."""
        return tuple(dict.fromkeys(nic.network for nic in self.nics if nic.network))

    @property
    def data_bytes(self) -> int:
        """What a live migration moves: its memory and its local disks."""
        return self.memory_mib * MIB + sum(disk.size_bytes for disk in self.local_disks)


# ---------------------------------------------------------------- migrations


class PathVerdict(IntEnum):
    """Whether a migration's data left its source by the chosen network's NIC
    (`domain.path_proof`); mirrors `miglane.v1.PathVerdict`."""

    UNSPECIFIED = 0
    CONFIRMED = 1
    OFF_PATH = 2
    TOO_LITTLE_DATA = 3


@dataclass(frozen=True)
class PathProof:
    """What the source's NIC counters say about a migration's path (`domain.path_proof`)."""

    verdict: PathVerdict = PathVerdict.UNSPECIFIED
    # The source host's NIC on the network that carries the data ("" when unknown).
    nic: str = ""
    # Bytes that NIC sent while the migration ran (all of its traffic).
    nic_tx_bytes: int = 0
    # The migration's data sent, and the guest's memory, when judged.
    data_bytes: int = 0
    memory_bytes: int = 0
    # The other NIC that sent the most meanwhile ("" when none sent anything).
    other_nic: str = ""
    other_nic_tx_bytes: int = 0

    @property
    def off_path(self) -> bool:
        return self.verdict is PathVerdict.OFF_PATH


@dataclass(frozen=True)
class Migration:
    id: str
    cluster_id: str
    vm_id: str
    source_host_id: str
    phase: MigrationPhase
    created_at: datetime
    vm_name: str = ""
    destination_host_id: str = ""
    automatic: bool = False
    progress_percent: int = 0
    data_total_bytes: int = 0
    data_processed_bytes: int = 0
    data_remaining_bytes: int = 0
    throughput_bps: int = 0
    dirty_rate_bps: int = 0
    # The working set its VM's agent had measured when it was last predicted from the VM (0: not
    # bounded, or not known): once it runs, its refined predictions resend no more per round
    # (QEMU's dirty rate of short rounds is that set over a short time, far above the guest's).
    working_set_bytes: int = 0
    iteration: int = 0
    network_id: str = ""
    migration_uri: str = ""
    fallback_reason: FallbackReason = FallbackReason.UNSPECIFIED
    fallback_detail: str = ""
    max_bandwidth_mibps: int = 0
    error: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    downtime_ms: int = 0
    queue_reason: str = ""
    eta_s: int = 0
    tried_host_ids: tuple[str, ...] = ()
    evacuation_host_id: str = ""
    post_copy: bool = False
    # Of data_*_bytes, what copying local disks accounts for (0 without a disk copy).
    disk_total_bytes: int = 0
    disk_processed_bytes: int = 0
    disk_remaining_bytes: int = 0
    # The prediction (`domain.prediction`) of a queued or running migration: when it should
    # finish (None: never, or unknown) and whether it converges, with a sentence saying why.
    predicted_finish_at: datetime | None = None
    verdict: ConvergenceVerdict = ConvergenceVerdict.UNSPECIFIED
    verdict_reason: str = ""
    # The cap asked for this migration (MigrateVm's override, SetMigrationBandwidth); None:
    # the cluster's policy decides (`max_bandwidth_mibps` is the cap in force).
    bandwidth_override_mibps: int | None = None
    # The help admission started it with, because plain pre-copy was predicted not to
    # converge at the bandwidth it would get (`domain.admission`).
    convergence_help: Help = Help.NONE
    # An evacuation's plan (`domain.evacuation`), for a queued evacuation migration: its place
    # in the plan's start order (1 first; 0: not planned), the destination the plan chose (the
    # queue prefers it while it is still suitable), and when the plan predicts it to finish.
    plan_rank: int = 0
    planned_destination_host_id: str = ""
    planned_finish_at: datetime | None = None
    # How many migrations the plan lets leave its source at once (0: the policy's limit).
    planned_outgoing: int = 0
    # Proof of path: the NIC of the carrying network on the source (set at admission) and,
    # once the agent reported its NIC counters, the verdict (`domain.path_proof`).
    path_proof: PathProof = field(default_factory=PathProof)
    # The priority in force: the request's override, else its VM's priority (followed while
    # the migration is active).
    priority: MigrationPriority = MigrationPriority.NORMAL
    # MigrateVm's per-call priority; None: the VM's priority decides.
    priority_override: MigrationPriority | None = None
    # The larger AUTO share admission gave it, MiB/s, because its fair share would never
    # converge (`domain.admission`); None: the fair share.
    granted_mibps: int | None = None
    # When admission started it (its prediction counts from then), and its first and latest
    # progress samples that had moved data (when seen, bytes processed then): what its fixed
    # cost outside the transfer is learned from once it completed (`domain.path_cost`).
    admitted_at: datetime | None = None
    first_data_at: datetime | None = None
    first_data_bytes: int = 0
    last_data_at: datetime | None = None
    last_data_bytes: int = 0

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES

    @classmethod
    def queued(
        cls,
        id: str,
        *,
        cluster_id: str,
        vm_id: str,
        vm_name: str,
        source_host_id: str,
        created_at: datetime,
        queue_reason: str,
        destination_host_id: str = "",
        automatic: bool = True,
        tried_host_ids: tuple[str, ...] = (),
        evacuation_host_id: str = "",
        bandwidth_override_mibps: int | None = None,
        max_bandwidth_mibps: int = 0,
        priority: MigrationPriority = MigrationPriority.NORMAL,
        priority_override: MigrationPriority | None = None,
    ) -> Migration:
        """A new migration waiting for the queue (MigrateVm, a rerun, an evacuation)."""
        return cls(
            id=id,
            cluster_id=cluster_id,
            vm_id=vm_id,
            vm_name=vm_name,
            source_host_id=source_host_id,
            destination_host_id=destination_host_id,
            automatic=automatic,
            phase=MigrationPhase.QUEUED,
            created_at=created_at,
            tried_host_ids=tried_host_ids,
            evacuation_host_id=evacuation_host_id,
            bandwidth_override_mibps=bandwidth_override_mibps,
            max_bandwidth_mibps=max_bandwidth_mibps,
            queue_reason=queue_reason,
            priority=priority_override or priority,
            priority_override=priority_override,
        )


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class Event:
    """An audit event. `sequence` is 0 until the store assigns it."""

    type: EventType
    message: str
    created_at: datetime
    severity: EventSeverity = EventSeverity.INFO
    sequence: int = 0
    cluster_id: str = ""
    network_id: str = ""
    host_id: str = ""
    vm_id: str = ""
    migration_id: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    # Who caused it: an identity's name, or ENGINE_ACTOR for the engine's own actions.
    actor: str = ENGINE_ACTOR


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    # Empty: the newest level the engine knows.
    compatibility_version: str = ""
    # None: the default policy. Fields at 0 / UNSPECIFIED take their defaults.
    policy: MigrationPolicy | None = None
    description: str = ""


@dataclass(frozen=True)
class ClusterPatch:
    """None leaves a field as it is."""

    cluster_id: str
    name: str | None = None
    compatibility_version: str | None = None
    policy: MigrationPolicy | None = None
    description: str | None = None


@dataclass(frozen=True)
class NetworkSpec:
    cluster_id: str
    name: str
    subnet: str
    required: bool = False
    roles: tuple[NetworkRole, ...] = ()
    # None or 0: no QoS.
    qos_mbps: int | None = None
    description: str = ""


@dataclass(frozen=True)
class NetworkPatch:
    """None leaves a field as it is; qos_mbps=0 clears the QoS."""

    network_id: str
    name: str | None = None
    subnet: str | None = None
    required: bool | None = None
    qos_mbps: int | None = None
    description: str | None = None


@dataclass(frozen=True)
class HostSpec:
    cluster_id: str
    name: str
    agent_address: str


@dataclass(frozen=True)
class MigrationFilter:
    """Empty strings and an empty phase set match everything."""

    cluster_id: str = ""
    vm_id: str = ""
    # Source or destination.
    host_id: str = ""
    phases: frozenset[MigrationPhase] = frozenset()
