"""The audit log: events stamped with the engine's clock, listed from the store, and watched
live (a replay from a sequence merged with the live fan-out of `EventHub`, no gap, no
duplicate)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import datetime
from functools import partial

from miglane.engine.actor import current_actor
from miglane.engine.domain.errors import ConsumerTooSlow, InvalidArgument
from miglane.engine.domain.model import Event, EventSeverity, EventType
from miglane.engine.domain.paging import Listing
from miglane.engine.domain.validation import validate_optional_id
from miglane.engine.events import EventHub, Subscription, SubscriptionOverflow
from miglane.engine.store import Page, Store
from miglane.engine.store_lookups import check_cluster_exists, read_page
from miglane.engine.unit_of_work import StoreWorker

_REPLAY_BATCH = 500


class AuditLog:
    def __init__(self, worker: StoreWorker, hub: EventHub, clock: Callable[[], datetime]) -> None:
        self._worker = worker
        # Public: the store worker publishes each commit's events to it.
        self.hub = hub
        self._clock = clock

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
    ) -> Event:
        """An Event stamped with the engine's clock and the current actor, for store work to
        return."""
        return Event(
            type=type_,
            message=message,
            created_at=self._clock(),
            severity=severity,
            cluster_id=cluster_id,
            network_id=network_id,
            host_id=host_id,
            vm_id=vm_id,
            migration_id=migration_id,
            attributes=dict(attributes or {}),
            actor=current_actor.get(),
        )

    def end_streams(self) -> None:
        """Ends every WatchEvents stream (first step of a graceful stop)."""
        self.hub.close()

    async def list_events(
        self,
        cluster_id: str = "",
        after_sequence: int = 0,
        page_size: int = 0,
        page_token: str = "",
    ) -> Listing[Event]:
        """History included: a deleted cluster's events stay listable by its id."""
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        if after_sequence < 0:
            raise InvalidArgument("after_sequence", f"{after_sequence} is negative")
        scope = f"events?cluster={cluster_id}&after={after_sequence}"

        def fetch(store: Store, after: int, size: int) -> Page[Event]:
            return store.list_events(cluster_id, max(after, after_sequence), size)

        return await read_page(self._worker, scope, page_size, page_token, fetch)

    async def watch_events(
        self, cluster_id: str = "", after_sequence: int = 0
    ) -> AsyncGenerator[Event, None]:
        """Events as they are committed; first those after `after_sequence` when it is not 0.

        No gap and no duplicate between replay and live events: the subscription starts
        before the replay reads the store, and anything at or below the last sent sequence is
        skipped. A client that falls `EventHub` queue-size events behind gets ConsumerTooSlow
        (after everything buffered) with the sequence to resume after.
        """
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        if after_sequence < 0:
            raise InvalidArgument("after_sequence", f"{after_sequence} is negative")
        if cluster_id:
            await check_cluster_exists(self._worker, cluster_id)
        subscription = self.hub.subscribe(
            lambda event: not cluster_id or event.cluster_id == cluster_id
        )
        last = after_sequence
        try:
            if after_sequence:
                async for replayed in self._replay(cluster_id, after_sequence):
                    yield replayed
                    last = replayed.sequence
            while (live := await _next_live(subscription, last)) is not None:
                if live.sequence <= last:
                    continue
                yield live
                last = live.sequence
        finally:
            subscription.close()

    async def _replay(self, cluster_id: str, after: int) -> AsyncGenerator[Event, None]:
        while True:
            page = await self._worker.read(
                partial(_replay_batch, cluster_id=cluster_id, after=after)
            )
            for replayed in page.items:
                yield replayed
                after = replayed.sequence
            if page.next_after is None:
                return


async def _next_live(subscription: Subscription, last: int) -> Event | None:
    """The subscription's next event; None when the hub closed. A dropped subscriber learns
    where to resume (`last`: the last sequence it was sent)."""
    try:
        return await subscription.next()
    except SubscriptionOverflow:
        raise ConsumerTooSlow(
            f"this event stream fell more than {subscription.limit} events behind "
            f"and was closed; reconnect with after_sequence={last} to resume "
            "without a gap",
            resume_after=last,
        ) from None


def _replay_batch(store: Store, *, cluster_id: str, after: int) -> Page[Event]:
    return store.list_events(cluster_id, after, _REPLAY_BATCH)
