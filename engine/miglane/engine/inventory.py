"""The inventory's parts — store worker, audit log, cluster, network and host services, the
agent-report recorder, VM and migration reads — and `open_inventory`, which puts them together
on one store."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from miglane.engine.audit import AuditLog
from miglane.engine.clusters import ClusterService
from miglane.engine.events import EventHub
from miglane.engine.host_credentials import HostAuthority, HostCredentials
from miglane.engine.host_reports import AgentReportRecorder
from miglane.engine.hosts import HostService
from miglane.engine.log_fields import logging_events
from miglane.engine.networks import NetworkService
from miglane.engine.records import MigrationRecords, VmRecords
from miglane.engine.store import Store
from miglane.engine.unit_of_work import StoreWorker


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class Inventory:
    """The inventory's parts, sharing one store worker (a holder: no logic of its own)."""

    worker: StoreWorker
    audit: AuditLog
    clusters: ClusterService
    networks: NetworkService
    hosts: HostService
    reports: AgentReportRecorder
    vms: VmRecords
    migration_records: MigrationRecords
    clock: Callable[[], datetime]
    new_id: Callable[[str], str]

    async def close(self) -> None:
        """Ends the event streams, waits for store work in progress, closes the database."""
        self.audit.end_streams()
        await self.worker.close()


def open_inventory(
    database_url: str,
    *,
    clock: Callable[[], datetime] = utc_now,
    make_id: Callable[[str], str] = new_id,
    hub: EventHub | None = None,
    authority: HostAuthority | None = None,
) -> Inventory:
    """The inventory on the database at `database_url` (`sqlite:///PATH`, the file created
    when missing, or `postgresql://...`); hosts are enrolled with `authority` (None: added
    without certificates)."""
    return assemble_inventory(
        Store.connect(database_url), clock=clock, make_id=make_id, hub=hub, authority=authority
    )


def assemble_inventory(
    store: Store,
    *,
    clock: Callable[[], datetime] = utc_now,
    make_id: Callable[[str], str] = new_id,
    hub: EventHub | None = None,
    authority: HostAuthority | None = None,
) -> Inventory:
    hub = hub or EventHub()
    credentials = HostCredentials(authority) if authority is not None else None
    worker = StoreWorker(store, publish=logging_events(hub.publish))
    return Inventory(
        worker=worker,
        audit=AuditLog(worker, hub, clock),
        clusters=ClusterService(worker, clock=clock, make_id=make_id),
        networks=NetworkService(worker, clock=clock, make_id=make_id),
        hosts=HostService(worker, clock=clock, make_id=make_id, credentials=credentials),
        reports=AgentReportRecorder(worker, clock=clock),
        vms=VmRecords(worker),
        migration_records=MigrationRecords(worker),
        clock=clock,
        new_id=make_id,
    )
