"""The command palette: every action on every item, by name ("grant migration role to prod/…")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from miglane.tui.models import MIGRATION
from miglane.tui.views.hosts import IN_MAINTENANCE

if TYPE_CHECKING:
    from miglane.tui.app import MiglaneApp


@dataclass(frozen=True)
class PaletteCommand:
    name: str
    run: Callable[[], object]
    help: str


def palette_commands(app: MiglaneApp) -> list[PaletteCommand]:
    """What the operator can do now, named after the things it is done to."""
    inventory = app.inventory
    commands = [
        PaletteCommand(
            f"Show {tab}", partial(app.action_show_tab, tab), f"Switch to the {tab} view"
        )
        for tab in ("networks", "hosts", "vms", "migrations", "events")
    ]
    commands.append(
        PaletteCommand("Refresh inventory", app.action_refresh, "Ask the engine for everything now")
    )
    for network in inventory.networks_sorted():
        label = f"{inventory.cluster_name(network.cluster_id)}/{network.name}"
        if MIGRATION in network.roles:
            commands.append(
                PaletteCommand(
                    f"Take migration role from network {label}",
                    partial(app.take_migration_role, network.id),
                    "Migrations of the cluster then use the management network",
                )
            )
        else:
            commands.append(
                PaletteCommand(
                    f"Grant migration role to network {label}",
                    partial(app.grant_migration_role, network.id),
                    "The role moves from the network holding it",
                )
            )
    for vm in inventory.vms_sorted():
        if app.board.active_for_vm(vm.id) is not None:
            continue
        commands.append(
            PaletteCommand(
                f"Migrate VM {vm.name} to…",
                partial(app.migrate_vm, vm.id, choose=True),
                "Choose among the candidate hosts, each with why it cannot or would fall back",
            )
        )
        commands.append(
            PaletteCommand(
                f"Migrate VM {vm.name} automatically",
                partial(app.migrate_vm, vm.id, choose=False),
                "The engine's scheduler chooses the destination",
            )
        )
    for migration in app.board.active():
        vm_name = migration.vm_name or inventory.vm_name(migration.vm_id)
        commands.append(
            PaletteCommand(
                f"Cancel migration of {vm_name}",
                partial(app.cancel_migration, migration.id),
                "The VM keeps running on its source",
            )
        )
        commands.append(
            PaletteCommand(
                f"Change bandwidth of {vm_name}'s migration",
                partial(app.change_bandwidth, migration.id),
                "A new cap in MiB/s, applied while it runs",
            )
        )
    for host in inventory.hosts_sorted():
        if host.status in IN_MAINTENANCE:
            commands.append(
                PaletteCommand(
                    f"Maintenance off: host {host.name}",
                    partial(app.set_maintenance, host.id, False),
                    "Return the host to service",
                )
            )
        else:
            commands.append(
                PaletteCommand(
                    f"Maintenance on: host {host.name}",
                    partial(app.set_maintenance, host.id, True),
                    "Evacuate its VMs by automatic migration, then hold it",
                )
            )
    return commands


class MiglaneCommands(Provider):
    """Offers `palette_commands` to the command palette (ctrl+p)."""

    @property
    def miglane(self) -> MiglaneApp:
        return cast("MiglaneApp", self.app)

    async def discover(self) -> Hits:
        for command in palette_commands(self.miglane):
            yield DiscoveryHit(command.name, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in palette_commands(self.miglane):
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), command.run, help=command.help)
