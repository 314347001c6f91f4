"""BandwidthBalancer: carries out `domain.bandwidth` — each job's cap at launch, AUTO caps
re-sent to running jobs when the migrations sharing a link change (their predictions refreshed
at the new cap and sharing), and SetMigrationBandwidth.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from miglane.engine.agent_client import AgentCallError, AgentClients
from miglane.engine.domain.bandwidth import (
    MigrationFlow,
    bandwidth_caps,
    bandwidth_changes,
    check_running_cap,
    link_budget,
    link_capacity_shares,
)
from miglane.engine.domain.errors import FailedPrecondition, NotFound
from miglane.engine.domain.forecast import forecast_rebalanced
from miglane.engine.domain.migration_path import path_taken
from miglane.engine.domain.model import Event, Migration, MigrationPhase
from miglane.engine.domain.vm_devices import copies_local_disks
from miglane.engine.migrations.cluster_view import ClusterReader, ClusterState
from miglane.engine.migrations.ledger import MigrationLedger, newest
from miglane.engine.migrations.ports import Clock
from miglane.engine.migrations.tasks import BackgroundTasks
from miglane.engine.store import Store

log = logging.getLogger(__name__)

# Starts and ends within this long share one bandwidth rebalancing.
REBALANCE_DELAY_S = 0.05


class BandwidthBalancer:
    """Used from the event loop's thread only."""

    def __init__(
        self,
        ledger: MigrationLedger,
        reader: ClusterReader,
        clients: AgentClients,
        tasks: BackgroundTasks,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._ledger = ledger
        self._reader = reader
        self._clients = clients
        self._tasks = tasks
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: set[str] = set()

    def _flows(self, state: ClusterState) -> list[MigrationFlow]:
        by_id = state.by_id
        flows = []
        for migration in state.slot_holders():
            live = self._ledger.active(migration.id) or migration
            source = by_id.get(migration.source_host_id)
            destination = by_id.get(migration.destination_host_id)
            if source is None or destination is None:
                continue
            path = path_taken(state.networks, source, destination, migration)
            flows.append(
                MigrationFlow(
                    migration_id=migration.id,
                    source_host_id=migration.source_host_id,
                    destination_host_id=migration.destination_host_id,
                    network_id=migration.network_id,
                    budget=link_budget(path, state.networks),
                    override_mibps=migration.bandwidth_override_mibps,
                    current_mibps=(
                        live.max_bandwidth_mibps if live.phase is MigrationPhase.RUNNING else None
                    ),
                    copies_disks=copies_local_disks(
                        state.vms.get(migration.vm_id), state.networks.cluster
                    ),
                    priority=live.priority,
                    granted_mibps=migration.granted_mibps,
                )
            )
        return flows

    def launch_cap(self, state: ClusterState, migration: Migration) -> int:
        """The cap a job starts with, MiB/s (0: none)."""
        cap = bandwidth_caps(state.networks.cluster.policy, self._flows(state)).get(migration.id)
        return cap.mibps if cap is not None else (migration.bandwidth_override_mibps or 0)

    def schedule_rebalance(self, cluster_id: str) -> None:
        """Rebalancing soon, once for every start and end of the next moment."""
        if cluster_id in self._pending or self._tasks.stopping:
            return
        self._pending.add(cluster_id)

        async def later() -> None:
            await asyncio.sleep(REBALANCE_DELAY_S)
            self._pending.discard(cluster_id)
            await self._rebalance(cluster_id)

        self._tasks.spawn(later(), f"rebalance-{cluster_id}")

    async def _rebalance(self, cluster_id: str) -> None:
        """AUTO caps follow the number of migrations sharing each link: re-sent with
        MigrateChangeParams to the running migrations whose share changed."""
        async with self._locks.setdefault(cluster_id, asyncio.Lock()):
            state = await self._reader.read_state(cluster_id, with_vms=False)
            if state is None:
                return
            flows = {flow.migration_id: flow for flow in self._flows(state)}
            policy = state.networks.cluster.policy
            link_shares = link_capacity_shares(
                list(flows.values()), bandwidth_caps(policy, list(flows.values()))
            )
            by_id = state.by_id
            changes = []
            for change in bandwidth_changes(policy, list(flows.values())):
                live = self._ledger.active(change.migration_id)
                # One not yet running gets its cap with the migrate verb.
                if (
                    live is None
                    or live.phase is not MigrationPhase.RUNNING
                    or change.cap.mibps <= 0
                ):
                    continue
                source = by_id[flows[change.migration_id].source_host_id]
                changes.append(
                    (
                        change.migration_id,
                        source.host.agent_address,
                        change.cap.mibps,
                        link_shares[change.migration_id],
                    )
                )
            await asyncio.gather(*(self._resend_cap(*change) for change in changes))

    async def _resend_cap(
        self, migration_id: str, address: str, mibps: int, link_share_mibps: float
    ) -> None:
        try:
            await self._clients.change_bandwidth(address, migration_id, mibps)
        except AgentCallError as error:
            log.info(
                "bandwidth of %s not changed: %s",
                migration_id,
                error,
                extra={"migration_id": migration_id},
            )
            return
        current = self._ledger.active(migration_id)
        if current is not None:
            capped = replace(current, max_bandwidth_mibps=mibps)
            self._ledger.show(forecast_rebalanced(capped, mibps, link_share_mibps, self._clock()))

    async def set_bandwidth(self, migration_id: str, mibps: int) -> Migration:
        """SetMigrationBandwidth: a running job's cap is changed at its agent first."""
        migration = await self._ledger.get(migration_id)
        if not migration.active:
            raise FailedPrecondition(
                f"migration {migration_id} is {migration.phase.label}: nothing to change"
            )
        if migration.phase is MigrationPhase.RUNNING:
            check_running_cap(mibps)
            address = await self._reader.source_address(migration)
            if address is None:
                raise FailedPrecondition(f"the source host of {migration_id} is gone")
            try:
                await self._clients.change_bandwidth(address, migration_id, mibps)
            except AgentCallError as error:
                raise FailedPrecondition(
                    f"the source agent did not change the cap: {error.detail}"
                ) from None
        live = self._ledger.active(migration_id)

        def work(store: Store) -> tuple[Migration, list[Migration], list[Event]]:
            # On the store's worker thread.
            current = newest(store.get_migration(migration_id), live)
            if current is None:
                raise NotFound("migration_id", "migration", migration_id)
            if not current.active:
                raise FailedPrecondition(f"migration {migration_id} ended meanwhile")
            updated = replace(current, bandwidth_override_mibps=mibps, max_bandwidth_mibps=mibps)
            return updated, [updated], []

        return await self._ledger.write(work)
