"""The operator's workflows: ask (a dialog), call the engine, say what happened.

Grant or take the migration role, migrate a VM (chosen or automatic), set a VM's migration
priority, cancel a migration, change its bandwidth, host maintenance on and off. Each runs as a
worker of the App (a dialog must be awaited from one) in the group "actions"; the views and the
command palette only say which item to act on.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from textual.app import App
from textual.worker import Worker

from miglane.tui.client import EngineClient, EngineError
from miglane.tui.format import priority_label
from miglane.tui.messages import MigrationChanged
from miglane.tui.models import MANAGEMENT, MIGRATION, Inventory, MigrationBoard
from miglane.tui.widgets.candidate_chooser import CandidateChooser
from miglane.tui.widgets.dialogs import BandwidthDialog, ConfirmDialog, PriorityDialog
from miglane.tui.widgets.status import ActionLine
from miglane.v1 import engine_pb2

ACTIONS_GROUP = "actions"


class TuiState(Protocol):
    """What the workflows read and nudge: the newest inventory and migrations."""

    @property
    def inventory(self) -> Inventory: ...

    @property
    def board(self) -> MigrationBoard: ...

    def request_refresh(self) -> None:
        """Re-read the inventory now rather than at the next periodic refresh."""


class OperatorActions:
    """Each method starts one workflow as a worker and returns it."""

    def __init__(self, app: App[Any], client: EngineClient, state: TuiState) -> None:
        self._app = app
        self._client = client
        self._state = state

    def _start(self, work: Coroutine[Any, Any, None], description: str) -> Worker[None]:
        return self._app.run_worker(
            work, group=ACTIONS_GROUP, exit_on_error=False, description=description
        )

    # ------------------------------------------------------------ saying what happened

    def _report(self, ok: bool, text: str) -> None:
        self._app.query_one(ActionLine).report(ok, text)

    def report_done(self, text: str) -> None:
        self._report(True, text)
        self._app.notify(text, title="Done", timeout=4)

    def report_refused(self, what: str, error: EngineError) -> None:
        if error.is_connection_problem:
            text = f"{what} failed: {error}"
        else:
            text = f"{what} refused ({error.code}): {error.detail}"
        self._report(False, text)
        self._app.notify(text, title="Refused", severity="error", timeout=10)

    async def _confirmed(self, title: str, body: str, confirm_label: str) -> bool:
        answer: bool = await self._app.push_screen_wait(ConfirmDialog(title, body, confirm_label))
        return answer

    # ------------------------------------------------------------ the migration role

    def grant_migration_role(self, network_id: str) -> Worker[None]:
        return self._start(self._grant_migration_role(network_id), "grant the migration role")

    async def _grant_migration_role(self, network_id: str) -> None:
        inventory = self._state.inventory
        network = inventory.networks.get(network_id)
        if network is None:
            return
        cluster = inventory.cluster_name(network.cluster_id)
        holder = inventory.role_holder(network.cluster_id, MIGRATION)
        moves = f" It moves from network {holder.name}." if holder else ""
        body = (
            f"Grant the migration role to network {network.name} ({network.subnet}) of cluster "
            f"{cluster}?{moves}\nNew migrations of {cluster} will carry their memory over "
            f"{network.name} wherever both hosts have a live link on it."
        )
        if not await self._confirmed("Grant the migration role", body, "Grant"):
            return
        try:
            response = await self._client.set_network_role(network.id, MIGRATION)
        except EngineError as error:
            self.report_refused(f"Granting the migration role to {cluster}/{network.name}", error)
            return
        previous = response.previous_network_id
        moved = f" (moved from {inventory.network_name(previous)})" if previous else ""
        self.report_done(f"Migration role granted to {cluster}/{network.name}{moved}")
        self._state.request_refresh()

    def take_migration_role(self, network_id: str) -> Worker[None]:
        return self._start(self._take_migration_role(network_id), "take the migration role")

    async def _take_migration_role(self, network_id: str) -> None:
        inventory = self._state.inventory
        network = inventory.networks.get(network_id)
        if network is None:
            return
        cluster = inventory.cluster_name(network.cluster_id)
        management = inventory.role_holder(network.cluster_id, MANAGEMENT)
        body = (
            f"Take the migration role from network {network.name} of cluster {cluster}?\n"
            f"Migrations of {cluster} will then use the management network"
            f"{' ' + management.name if management else ''}."
        )
        if not await self._confirmed("Take the migration role", body, "Take"):
            return
        try:
            await self._client.unset_network_role(network.id, MIGRATION)
        except EngineError as error:
            self.report_refused(f"Taking the migration role from {cluster}/{network.name}", error)
            return
        self.report_done(f"Migration role taken from {cluster}/{network.name}")
        self._state.request_refresh()

    # ------------------------------------------------------------ migrations

    def migrate_vm(self, vm_id: str, choose: bool) -> Worker[None]:
        return self._start(self._migrate_vm(vm_id, choose), "migrate a VM")

    async def _migrate_vm(self, vm_id: str, choose: bool) -> None:
        inventory = self._state.inventory
        vm = inventory.vms.get(vm_id)
        if vm is None:
            return
        destination = ""
        if choose:
            try:
                candidates = await self._client.list_migration_candidates(vm.id)
            except EngineError as error:
                self.report_refused(f"Listing destinations for {vm.name}", error)
                return
            chosen = await self._app.push_screen_wait(
                CandidateChooser(
                    vm.name, inventory.host_name(vm.host_id), candidates, inventory.network_name
                )
            )
            if chosen is None:
                return
            destination = chosen
        where = inventory.host_name(destination) if destination else "a host the engine chooses"
        try:
            migration = await self._client.migrate_vm(vm.id, destination)
        except EngineError as error:
            self.report_refused(f"Migrating {vm.name} to {where}", error)
            return
        self._app.post_message(MigrationChanged(migration))
        target = inventory.host_name(migration.destination_host_id)
        how = "automatic" if migration.automatic else "chosen"
        self.report_done(f"Migration of {vm.name} to {target} ({how}) started")

    def set_vm_priority(self, vm_id: str) -> Worker[None]:
        return self._start(self._set_vm_priority(vm_id), "set a VM's migration priority")

    async def _set_vm_priority(self, vm_id: str) -> None:
        vm = self._state.inventory.vms.get(vm_id)
        if vm is None:
            return
        current = priority_label(vm.migration_priority)
        chosen = await self._app.push_screen_wait(
            PriorityDialog(f"Migration priority of {vm.name}", current)
        )
        if chosen is None:
            return
        try:
            updated = await self._client.set_vm_migration_priority(vm.id, chosen)
        except EngineError as error:
            self.report_refused(f"Setting the migration priority of {vm.name}", error)
            return
        self.report_done(
            f"Migration priority of {vm.name}: {priority_label(updated.migration_priority)}"
        )
        self._state.request_refresh()

    def _migration_and_vm_name(self, migration_id: str) -> tuple[engine_pb2.Migration, str] | None:
        migration = self._state.board.get(migration_id)
        if migration is None:
            return None
        return migration, migration.vm_name or self._state.inventory.vm_name(migration.vm_id)

    def cancel_migration(self, migration_id: str) -> Worker[None]:
        return self._start(self._cancel_migration(migration_id), "cancel a migration")

    async def _cancel_migration(self, migration_id: str) -> None:
        found = self._migration_and_vm_name(migration_id)
        if found is None:
            return
        migration, vm_name = found
        source = self._state.inventory.host_name(migration.source_host_id)
        body = (
            f"Cancel the migration of {vm_name} "
            f"({migration.progress_percent}% copied)?\nThe VM keeps running on {source}."
        )
        if not await self._confirmed("Cancel the migration", body, "Cancel it"):
            return
        try:
            cancelled = await self._client.cancel_migration(migration_id)
        except EngineError as error:
            self.report_refused(f"Cancelling the migration of {vm_name}", error)
            return
        self._app.post_message(MigrationChanged(cancelled))
        self.report_done(f"Migration of {vm_name} cancelled; it stays on {source}")

    def change_bandwidth(self, migration_id: str) -> Worker[None]:
        return self._start(self._change_bandwidth(migration_id), "change a migration's bandwidth")

    async def _change_bandwidth(self, migration_id: str) -> None:
        found = self._migration_and_vm_name(migration_id)
        if found is None:
            return
        migration, vm_name = found
        mibps = await self._app.push_screen_wait(
            BandwidthDialog(
                f"Bandwidth of {vm_name}'s migration", migration.max_bandwidth_mib_per_second
            )
        )
        if mibps is None:
            return
        try:
            changed = await self._client.set_migration_bandwidth(migration_id, mibps)
        except EngineError as error:
            self.report_refused(f"Changing the bandwidth of {vm_name}'s migration", error)
            return
        self._app.post_message(MigrationChanged(changed))
        cap = f"capped at {mibps} MiB/s" if mibps else "no longer capped"
        self.report_done(f"Migration of {vm_name} {cap}")

    # ------------------------------------------------------------ hosts

    def set_maintenance(self, host_id: str, enabled: bool) -> Worker[None]:
        return self._start(self._set_maintenance(host_id, enabled), "host maintenance")

    async def _set_maintenance(self, host_id: str, enabled: bool) -> None:
        inventory = self._state.inventory
        host = inventory.hosts.get(host_id)
        if host is None:
            return
        if enabled:
            vms = sorted(v.name for v in inventory.vms.values() if v.host_id == host.id)
            listed = f" ({', '.join(vms)})" if vms else ""
            body = (
                f"Put host {host.name} in maintenance?\nIts {len(vms)} VM(s){listed} will be "
                "migrated away automatically, then the host is held out of service."
            )
            if not await self._confirmed("Host maintenance", body, "Evacuate"):
                return
        try:
            response = await self._client.set_host_maintenance(host.id, enabled)
        except EngineError as error:
            what = f"{'Starting' if enabled else 'Ending'} maintenance of {host.name}"
            self.report_refused(what, error)
            return
        for migration in response.migrations:
            self._app.post_message(MigrationChanged(migration))
        self._state.request_refresh()
        self._report_maintenance(host, enabled, response)

    def _report_maintenance(
        self,
        host: engine_pb2.Host,
        enabled: bool,
        response: engine_pb2.SetHostMaintenanceResponse,
    ) -> None:
        started = f"{len(response.migrations)} migration(s) started"
        if not enabled:
            self.report_done(f"Host {host.name} is back in service")
        elif response.unplaced:
            unplaced = "; ".join(f"{u.vm_name}: {u.reason}" for u in response.unplaced)
            text = (
                f"Host {host.name} evacuating: {started}; "
                f"{len(response.unplaced)} VM(s) cannot leave: {unplaced}"
            )
            self._report(False, text)
            self._app.notify(text, title="Evacuation incomplete", severity="warning", timeout=10)
        else:
            self.report_done(f"Host {host.name} evacuating: {started}")
