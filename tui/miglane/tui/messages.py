"""The typed messages the stream workers post to the App: one per update."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from textual.message import Message

from miglane.tui.models import Inventory
from miglane.v1 import engine_pb2


class Feed(Enum):
    """Where the TUI's data comes from; each is watched by its own worker."""

    INVENTORY = "inventory"
    MIGRATIONS = "migrations"
    EVENTS = "events"


class FeedHealth(Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    # The engine did not answer: the worker retries by itself.
    LOST = "lost"


class InventoryRefreshed(Message):
    """Clusters, networks, hosts and VMs as the engine lists them now."""

    def __init__(self, inventory: Inventory) -> None:
        super().__init__()
        self.inventory = inventory

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, InventoryRefreshed)


class MigrationsSnapshot(Message):
    """The migrations the engine had when the stream (re)started, up to `snapshot_complete`."""

    def __init__(self, migrations: list[engine_pb2.Migration]) -> None:
        super().__init__()
        self.migrations = migrations


class MigrationChanged(Message):
    """One migration's new state. A newer state of the same migration waiting right behind
    it in the queue supersedes it: under a flood only the newest is drawn."""

    def __init__(self, migration: engine_pb2.Migration, received_at: float = 0.0) -> None:
        super().__init__()
        self.migration = migration
        # When the worker read it (time.perf_counter), for measuring render lag.
        self.received_at = received_at

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MigrationChanged) and message.migration.id == self.migration.id


class EventArrived(Message):
    def __init__(self, event: engine_pb2.Event) -> None:
        super().__init__()
        self.event = event


@dataclass
class FeedState:
    health: FeedHealth
    detail: str = ""


class FeedHealthChanged(Message):
    """A worker found its feed live or lost."""

    def __init__(self, feed: Feed, health: FeedHealth, detail: str = "") -> None:
        super().__init__()
        self.feed = feed
        self.state = FeedState(health, detail)
