"""What the migration side needs of the inventory, as small protocols (the inventory's
services implement them; `miglane.engine.app` wires them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from miglane.engine.domain.model import (
    Event,
    EventSeverity,
    EventType,
    Host,
    HostSpec,
    HostView,
    Migration,
)
from miglane.engine.store import Store

T = TypeVar("T")

Clock = Callable[[], datetime]
# New record id for a prefix ("mig" -> "mig-…").
IdFactory = Callable[[str], str]
# Hosts with their attachments and migration counts, read inside a store transaction.
HostViews = Callable[[Store, Sequence[Host]], list[HostView]]


class StoreAccess(Protocol):
    """The store's one worker thread: `work` runs there, never on the event loop."""

    async def read(self, work: Callable[[Store], T]) -> T: ...

    async def transact(
        self,
        work: Callable[[Store], tuple[T, Sequence[Event]]],
        *,
        on_commit: Callable[[T], None] | None = None,
    ) -> T: ...


class EventMaker(Protocol):
    """An Event stamped with the engine's clock and the current actor (callable on any thread
    running in the context of the call or task it acts for)."""

    def make_event(
        self,
        type_: EventType,
        message: str,
        *,
        severity: EventSeverity = EventSeverity.INFO,
        cluster_id: str = "",
        network_id: str = "",
        host_id: str = "",
        vm_id: str = "",
        migration_id: str = "",
        attributes: Mapping[str, str] | None = None,
    ) -> Event: ...


class HostRecords(Protocol):
    async def get_host(self, host_id: str) -> HostView: ...

    async def add_host(self, spec: HostSpec) -> HostView: ...


class MigrationRecords(Protocol):
    async def get_migration(self, migration_id: str) -> Migration: ...
