"""Recording what a poll of a host's agent learned: the host's NICs, facts, VMs and status
(the rule is `domain.host_status`), with an event when the status changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from miglane.engine.actor import current_actor
from miglane.engine.domain import audit_messages as say
from miglane.engine.domain.host_status import AgentReport, reported_host, reported_vms
from miglane.engine.domain.model import Event, HostView
from miglane.engine.hosts import host_views
from miglane.engine.store import Store
from miglane.engine.store_lookups import require_host
from miglane.engine.unit_of_work import StoreWorker


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
