"""The narrow hypervisor interface the agent needs, and the outcomes drivers report.

Two implementations: `libvirt_driver.LibvirtDriver` (the only module that imports libvirt; it
maps libvirt error codes to the `DriverErrorKind`s below) and `fake_driver.FakeDriver` (in
memory, simulating memory copy). `tests/agent/test_driver_contract.py` holds both to the same
contract. Every method may block; the agent calls them from worker threads.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from miglane.agent.domain.model import DomainInfo, HostFacts, JobStats


class DriverErrorKind(enum.Enum):
    NO_DOMAIN = "no such domain"
    NOT_RUNNING = "domain not running"
    NO_JOB = "no job running"
    CANCELLED = "cancelled"
    DESTINATION = "destination"
    NETWORK = "network"
    TLS_NOT_CONFIGURED = "TLS not configured"
    UNSUPPORTED = "unsupported"
    NOT_FOUND = "not found"
    OTHER = "other"


class DriverError(Exception):
    """A hypervisor call failed; `kind` says what that means for the agent."""

    def __init__(self, kind: DriverErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class MigrationParams:
    """One live migration, peer to peer: the source daemon reaches the destination daemon at
    `peer_uri` (qemu+tls://) and QEMU sends the data to `migration_uri`. With `encrypted`, QEMU
    wraps the data in TLS and checks the destination's certificate carries `tls_destination`
    (its host name or management address: the migration URI is an address on the migration
    network, which the certificate need not name). A driver refuses an encrypted migration
    with TLS_NOT_CONFIGURED before anything is sent when either host lacks its certificates,
    saying which host and what is missing; it never falls back to clear text.

    `copy_disks` names the local disks (targets, e.g. "vda") copied to the destination during
    the migration, to `disks_uri` (`tcp://ADDR[:PORT]`, the destination's migration address),
    with TLS too when `encrypted`. The driver creates their images on the destination first
    (refusing with DESTINATION when a file is already there) and removes them again when the
    migration fails or is cancelled. A domain with a local disk not named is refused by the
    hypervisor (never migrated unsafely)."""

    peer_uri: str
    migration_uri: str
    bandwidth_mibps: int | None = None
    encrypted: bool = False
    tls_destination: str = ""
    compressed: bool = False
    auto_converge: bool = False
    parallel_connections: int = 0
    post_copy_allowed: bool = False
    persist_destination: bool = True
    undefine_source: bool = True
    copy_disks: tuple[str, ...] = ()
    disks_uri: str = ""


# Called from a driver thread with the domain UUID whenever a job of that domain reached a
# new iteration (libvirt's MIGRATION_ITERATION event) or ended (JOB_COMPLETED).
JobListener = Callable[[str], None]


class HypervisorDriver(Protocol):
    def host_facts(self) -> HostFacts: ...

    def list_domains(self) -> list[DomainInfo]: ...

    def domain(self, vm_id: str) -> DomainInfo:
        """Raises DriverError(NO_DOMAIN)."""
        ...

    def check_peer(self, peer_uri: str) -> None:
        """Raises DriverError(DESTINATION) saying why the peer cannot be used as destination
        (unreachable, refusing, or this very host)."""
        ...

    def migrate(self, vm_id: str, params: MigrationParams) -> None:
        """Blocks until the live migration ended; raises DriverError when it failed."""
        ...

    def job_stats(self, vm_id: str) -> JobStats | None:
        """Figures of the domain's running job; None when no job runs."""
        ...

    def outgoing_jobs(self) -> list[str]:
        """UUIDs of domains with a running outgoing migration or save job (after a restart)."""
        ...

    def completed_job_stats(self, vm_id: str, peer_uri: str = "") -> JobStats | None:
        """Figures of the domain's last completed job, looked up here and, when the domain was
        undefined here, on the destination at `peer_uri`; None when neither has them."""
        ...

    def arrived_at(self, vm_id: str, peer_uri: str) -> bool:
        """True when the domain runs on the peer and no longer here (a migration that ended
        while nobody watched it succeeded)."""
        ...

    def abort(self, vm_id: str) -> None: ...

    def set_max_speed(self, vm_id: str, mibps: int) -> None: ...

    def set_max_downtime(self, vm_id: str, ms: int) -> None: ...

    def start_post_copy(self, vm_id: str) -> None: ...

    def save(self, vm_id: str, path: str) -> None:
        """Blocks until the domain's state is saved to `path` and the domain stopped."""
        ...

    def restore(self, path: str) -> DomainInfo: ...

    def start_dirty_rate_calc(self, vm_id: str, seconds: int) -> None:
        """Starts measuring the running domain's memory dirty rate over `seconds`, by sampling
        pages (no migration, no dirty logging; works under TCG and KVM). Raises
        DriverError(NO_DOMAIN, NOT_RUNNING, UNSUPPORTED)."""
        ...

    def dirty_rate(self, vm_id: str) -> int | None:
        """Bytes per second the domain's last finished calculation measured; None while one
        still measures or none was started."""
        ...

    def set_job_listener(self, listener: JobListener | None) -> None: ...

    def close(self) -> None: ...
