"""The three feeds from the engine, each read by its own worker that posts typed messages.

The inventory is listed periodically (and at once when asked); migrations and events are
streamed. Every worker retries by itself when the engine is away, and says so with a
`FeedHealthChanged`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

from textual.app import App
from textual.worker import Worker

from miglane.tui.client import EngineClient, EngineError
from miglane.tui.messages import (
    EventArrived,
    Feed,
    FeedHealth,
    FeedHealthChanged,
    InventoryRefreshed,
    MigrationChanged,
    MigrationsSnapshot,
)
from miglane.tui.models import EVENT_HISTORY, EventLog, Inventory
from miglane.v1 import engine_pb2


class Feeds:
    """Starts (and restarts) the feed workers on `app`; their messages go to `app`."""

    def __init__(
        self,
        app: App[Any],
        client: EngineClient,
        event_log: EventLog,
        *,
        refresh_interval_s: float,
        retry_delay_s: float,
    ) -> None:
        self._app = app
        self._client = client
        self._event_log = event_log
        self.refresh_interval_s = refresh_interval_s
        self.retry_delay_s = retry_delay_s
        self._refresh_now: asyncio.Event | None = None

    def start(self) -> None:
        """Starts every feed; call from within the running App (the loop must exist)."""
        self._refresh_now = asyncio.Event()
        for feed in Feed:
            self.restart(feed)

    def restart(self, feed: Feed) -> Worker[None]:
        """(Re)starts one feed's worker; a worker of the same feed still running is cancelled."""
        work: dict[Feed, Callable[[], Coroutine[Any, Any, None]]] = {
            Feed.INVENTORY: self._watch_inventory,
            Feed.MIGRATIONS: self._watch_migrations,
            Feed.EVENTS: self._watch_events,
        }
        return self._app.run_worker(
            work[feed](),
            group=feed.value,
            exclusive=True,
            exit_on_error=False,
            description=feed.value,
        )

    def request_refresh(self) -> None:
        if self._refresh_now is not None:
            self._refresh_now.set()

    def _post_lost(self, feed: Feed, error: EngineError) -> None:
        self._app.post_message(FeedHealthChanged(feed, FeedHealth.LOST, str(error)))

    async def _watch_inventory(self) -> None:
        """Lists the inventory every `refresh_interval_s`, and at once when asked to."""
        assert self._refresh_now is not None
        client = self._client
        while True:
            self._refresh_now.clear()
            try:
                clusters, networks, hosts, vms = await asyncio.gather(
                    client.list_clusters(),
                    client.list_networks(),
                    client.list_hosts(),
                    client.list_vms(),
                )
            except EngineError as error:
                self._post_lost(Feed.INVENTORY, error)
                delay = self.retry_delay_s
            else:
                inventory = Inventory.of(clusters, networks, hosts, vms)
                self._app.post_message(InventoryRefreshed(inventory))
                self._app.post_message(FeedHealthChanged(Feed.INVENTORY, FeedHealth.LIVE))
                delay = self.refresh_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh_now.wait(), delay)

    async def _watch_migrations(self) -> None:
        """The migrations stream: a snapshot, then one message per change; resubscribes."""
        post = self._app.post_message
        while True:
            snapshot: list[engine_pb2.Migration] = []
            live = False
            try:
                async for response in self._client.watch_migrations(include_finished=True):
                    if live:
                        post(MigrationChanged(response.migration, time.perf_counter()))
                        continue
                    if response.HasField("migration"):
                        snapshot.append(response.migration)
                    if response.snapshot_complete:
                        live = True
                        post(MigrationsSnapshot(snapshot))
                        post(FeedHealthChanged(Feed.MIGRATIONS, FeedHealth.LIVE))
                error = EngineError(
                    "UNAVAILABLE", "the migrations stream ended", self._client.address
                )
            except EngineError as failure:
                error = failure
            self._post_lost(Feed.MIGRATIONS, error)
            await asyncio.sleep(self.retry_delay_s)

    async def _watch_events(self) -> None:
        """Past events once, then the events stream, resuming after the last one seen."""
        post = self._app.post_message
        while True:
            try:
                after = self._event_log.last_sequence
                history = await self._client.list_events(after_sequence=after)
                for event in history[-EVENT_HISTORY:]:
                    post(EventArrived(event))
                if history:
                    after = max(after, history[-1].sequence)
                post(FeedHealthChanged(Feed.EVENTS, FeedHealth.LIVE))
                async for event in self._client.watch_events(after_sequence=after):
                    post(EventArrived(event))
                error = EngineError("UNAVAILABLE", "the events stream ended", self._client.address)
            except EngineError as failure:
                error = failure
            self._post_lost(Feed.EVENTS, error)
            await asyncio.sleep(self.retry_delay_s)
