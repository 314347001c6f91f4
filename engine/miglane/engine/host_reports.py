"""Recording what a poll of a host's agent learned: the host's NICs, facts, VMs and status
(the rule is `domain.host_status`), with an event when the status changes. A round's reports
are recorded together (`record_all`), a batch of hosts per transaction."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime

from miglane.engine.actor import current_actor
from miglane.engine.domain import audit_messages as say
from miglane.engine.domain.host_status import AgentReport, reported_host, reported_vms
from miglane.engine.domain.model import Event, HostView, Network
from miglane.engine.hosts import host_views
from miglane.engine.store import Store
from miglane.engine.store_lookups import require_host
from miglane.engine.unit_of_work import StoreWorker

# Hosts recorded per transaction: a round of a thousand hosts does not hold the store's one
# writer for long at a time.
RECORD_BATCH = 100


class AgentReportRecorder:
    def __init__(self, worker: StoreWorker, *, clock: Callable[[], datetime]) -> None:
        self._worker = worker
        self._clock = clock

    async def record(self, host_id: str, report: AgentReport) -> HostView:
        """Applies one agent poll in one transaction; returns the host as it is now."""

        def work(store: Store) -> tuple[HostView, list[Event]]:
            host = require_host(store, host_id)
            now = self._clock()
            updated = reported_host(host, report, store.networks_of_cluster(host.cluster_id), now)
            vms = reported_vms(host, report)
            if vms is not None:
                store.replace_host_vms(host.id, vms)
            store.update_host(updated)
            events = say.host_status_changed(
                host, updated, self._clock(), actor=current_actor.get()
            )
            return host_views(store, [updated])[0], events

        return await self._worker.transact(work)

    async def record_all(self, reports: Sequence[tuple[str, AgentReport]]) -> None:
        """Applies a round's reports, `RECORD_BATCH` hosts per transaction; a host removed
        meanwhile is skipped."""
        for start in range(0, len(reports), RECORD_BATCH):
            batch = reports[start : start + RECORD_BATCH]
            await self._worker.transact(functools.partial(self._apply, reports=batch))

    def _apply(
        self, store: Store, reports: Sequence[tuple[str, AgentReport]]
    ) -> tuple[None, list[Event]]:
        """On the store's worker thread: each host updated, the status-change events."""
        networks: dict[str, list[Network]] = {}
        events: list[Event] = []
        actor = current_actor.get()
        for host_id, report in reports:
            host = store.get_host(host_id)
            if host is None:
                continue
            if host.cluster_id not in networks:
                networks[host.cluster_id] = store.networks_of_cluster(host.cluster_id)
            updated = reported_host(host, report, networks[host.cluster_id], self._clock())
            vms = reported_vms(host, report)
            if vms is not None:
                store.replace_host_vms(host.id, vms)
            store.update_host(updated)
            events += say.host_status_changed(host, updated, self._clock(), actor=actor)
        return None, events
