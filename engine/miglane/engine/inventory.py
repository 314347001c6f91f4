"""TEMPORARY adapter: `InventoryService`, the inventory's former one-class interface, delegating
every call to the parts in `inventory_parts` (it adds no logic). It keeps the orchestrator, the
host monitor, maintenance, the runner and their tests working until they take the parts from
the composition root; then this module goes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from miglane.engine.domain.host_status import AgentReport
from miglane.engine.domain.model import (
    Cluster,
    Event,
    HostView,
    Migration,
    Vm,
)
from miglane.engine.events import EventHub
from miglane.engine.example_cluster import create_example_cluster
from miglane.engine.hosts import host_views
from miglane.engine.inventory_parts import Inventory, new_id, open_inventory, utc_now
from miglane.engine.store import Store
from miglane.engine.unit_of_work import Work

T = TypeVar("T")


class InventoryService(Inventory):
    """Temporary: each method is the part's method of the same name."""

    _host_views = staticmethod(host_views)

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        hub: EventHub | None = None,
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[str], str] = new_id,
    ) -> InventoryService:
        parts = open_inventory(state_dir, clock=clock, make_id=make_id, hub=hub)
        return cls(**{f.name: getattr(parts, f.name) for f in fields(parts)})

    @property
    def hub(self) -> EventHub:
        return self.audit.hub

    @property
    def _clock(self) -> Callable[[], datetime]:
        return self.clock

    @property
    def _make_id(self) -> Callable[[str], str]:
        return self.new_id

    def end_streams(self) -> None:
        self.audit.end_streams()

    async def read(self, work: Callable[[Store], T]) -> T:
        return await self.worker.read(work)

    async def transact(self, work: Work[T], *, on_commit: Callable[[T], None] | None = None) -> T:
        return await self.worker.transact(work, on_commit=on_commit)

    def make_event(self, *args: Any, **kwargs: Any) -> Event:
        return self.audit.make_event(*args, **kwargs)

    async def record_migration(
        self, migration: Migration, events: Sequence[Event] = ()
    ) -> Migration:
        """Test-only writer, kept here until tests/engine/engine_support.py and
        tests/tui/real_stack.py call tests/engine/migration_writers.record_migration."""

        def work(store: Store) -> tuple[Migration, Sequence[Event]]:
            store.insert_migration(migration)
            return migration, events

        return await self.worker.transact(work)

    async def create_example_cluster(self) -> Cluster | None:
        return await create_example_cluster(self)

    def __getattr__(self, name: str) -> Any:
        """The other calls (create_cluster, list_networks, remove_host, list_events, ...): the
        method of that name of the part that has it."""
        parts = (self.clusters, self.networks, self.hosts, self.vms, self.migration_records)
        for part in (*parts, self.audit):
            if hasattr(type(part), name):
                return getattr(part, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    async def get_host(self, host_id: str) -> HostView:
        return await self.hosts.get_host(host_id)

    async def record_agent_report(self, host_id: str, report: AgentReport) -> HostView:
        return await self.reports.record(host_id, report)

    async def get_vm(self, vm_id: str) -> Vm:
        return await self.vms.get_vm(vm_id)

    async def get_migration(self, migration_id: str) -> Migration:
        return await self.migration_records.get_migration(migration_id)


__all__ = ["AgentReport", "InventoryService", "Work"]
