"""Values the agent reasons with: job phases, failure kinds, schedules, job statistics."""

from __future__ import annotations

import enum
from dataclasses import dataclass

GIB = 1024**3
MIB = 1024**2


class MigrationMode(enum.Enum):
    LIVE = "live"
    HIBERNATE = "hibernate"


class JobPhase(enum.Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self is not JobPhase.RUNNING


class FailureKind(enum.Enum):
    """Why a job failed, for the engine's rerun and retry decisions."""

    NONE = "none"
    CANCELLED = "cancelled"
    NOT_CONVERGING = "not_converging"
    DESTINATION = "destination"
    NETWORK = "network"
    OTHER = "other"


class VmState(enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    SHUT_OFF = "shut_off"
    MIGRATING = "migrating"
    CRASHED = "crashed"
    SAVED = "saved"
    UNKNOWN = "unknown"


class ConvergenceAction(enum.Enum):
    SET_DOWNTIME = "set_downtime"
    POST_COPY = "post_copy"
    ABORT = "abort"


@dataclass(frozen=True)
class ConvergenceStep:
    """After `stalled_iterations` iterations without a new low of remaining data, do `action`."""

    stalled_iterations: int
    action: ConvergenceAction
    downtime_ms: int = 0


@dataclass(frozen=True)
class ConvergenceSchedule:
    initial_downtime_ms: int = 0
    stalling: tuple[ConvergenceStep, ...] = ()


@dataclass(frozen=True)
class JobStats:
    """One sample of a running (or the figures of a completed) hypervisor job.

    Rates are bytes per second; `dirty_rate_bps` is 0 until the second iteration."""

    data_total: int = 0
    data_processed: int = 0
    data_remaining: int = 0
    memory_bps: int = 0
    dirty_rate_bps: int = 0
    iteration: int = 0
    elapsed_ms: int = 0
    downtime_ms: int = 0
    post_copy: bool = False
    # Of data_*: what belongs to copying local disks (0 without a disk copy).
    disk_total: int = 0
    disk_processed: int = 0
    disk_remaining: int = 0


@dataclass(frozen=True)
class Nic:
    name: str
    mac: str
    addresses: tuple[str, ...]
    link_up: bool
    speed_mbps: int
    mtu: int
    rx_bytes: int = 0
    tx_bytes: int = 0


@dataclass(frozen=True)
class HostFacts:
    """What the hypervisor tells about its host."""

    host_uuid: str
    hostname: str
    libvirt_version: str
    qemu_version: str
    cpus: int
    memory_mib: int
    free_memory_mib: int


class DiskKind(enum.Enum):
    """Where a VM's disk lives, as far as migration cares."""

    # Storage every host reaches (network block storage, a shared file system): only memory
    # moves.
    SHARED = "shared"
    # An image private to its host: a live migration must copy it to the destination.
    LOCAL = "local"


@dataclass(frozen=True)
class VmDisk:
    """One disk of a domain: its guest device name (`vda`), where it lives, its virtual size
    (0: unknown), image format (`raw`, `qcow2`; "" unknown) and source (a path, or the network
    source such as `nbd://10.0.0.1:10809/vm-vda`)."""

    target: str
    kind: DiskKind
    size_bytes: int = 0
    format: str = ""
    source: str = ""


@dataclass(frozen=True)
class VmNic:
    """One vNIC of a domain: the host bridge (or libvirt network) it is plugged into, which a
    destination must have too."""

    network: str
    mac: str = ""


@dataclass(frozen=True)
class DomainInfo:
    id: str
    name: str
    state: VmState
    memory_mib: int
    disks: tuple[VmDisk, ...] = ()
    nics: tuple[VmNic, ...] = ()

    @property
    def local_disks(self) -> tuple[VmDisk, ...]:
        return tuple(d for d in self.disks if d.kind is DiskKind.LOCAL)


@dataclass(frozen=True)
class Capabilities:
    host: HostFacts
    peer_libvirt_uri: str
    nics: tuple[Nic, ...]
    agent_version: str
    max_outgoing_migrations: int
    running_outgoing_migrations: int


@dataclass(frozen=True)
class DirtyRate:
    """One measurement of how fast a running guest dirties its memory, without migrating it:
    bytes per second, and when (epoch seconds) the measurement finished; with the working set
    it keeps rewriting, in bytes, 0 when its dirtying is not bounded by one or not known
    (`working_set.working_set_bytes`)."""

    bytes_per_second: int
    measured_at: float
    working_set_bytes: int = 0


@dataclass(frozen=True)
class VmView:
    domain: DomainInfo
    migration_id: str = ""
    dirty_rate: DirtyRate | None = None


@dataclass(frozen=True)
class BandwidthChange:
    migration_id: str
    max_bandwidth_mibps: int
    max_downtime_ms: int = 0


@dataclass(frozen=True)
class Timeouts:
    """As requested, 0 means the agent's default (`convergence.resolve_timeouts`)."""

    no_progress_s: int = 0
    completion_s_per_gib: int = 0


@dataclass(frozen=True)
class MigrationOptions:
    encrypted: bool = False
    compressed: bool = False
    auto_converge: bool = False
    parallel_connections: int = 0
    post_copy_allowed: bool = False
    # Copy the VM's local disks to the destination during a live migration; False: a VM with
    # a local disk is refused.
    copy_local_disks: bool = False


@dataclass(frozen=True)
class MigrateRequest:
    """The migrate verb as received, before validation: a live migration to `dst` over
    `migration_uri`, or a hibernation to `save_path`. `mode` is None when the request named
    no target."""

    migration_id: str
    vm_id: str
    dst: str = ""
    mode: MigrationMode | None = MigrationMode.LIVE
    migration_uri: str = ""
    # Where the disk copy goes (tcp://ADDR[:PORT]); "": the host of `migration_uri`.
    disks_uri: str = ""
    save_path: str = ""
    max_bandwidth_mibps: int | None = None
    options: MigrationOptions = MigrationOptions()
    schedule: ConvergenceSchedule = ConvergenceSchedule()
    timeouts: Timeouts = Timeouts()
