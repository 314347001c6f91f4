"""The command palette: every action on every item, by name ("grant migration role to prod/…")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from miglane.tui.models import IN_MAINTENANCE, MIGRATION, TABS

if TYPE_CHECKING:
    from miglane.tui.actions import OperatorActions
    from miglane.tui.context import ViewContext


@dataclass(frozen=True)
class PaletteCommand:
    name: str
    run: Callable[[], object]
    help: str


@dataclass(frozen=True)
class _Offer:
    """One action on one kind of item: offered for the items `applies` holds for."""

    kind: str
    applies: Callable[[Any], bool]
    # Formatted with the item's label.
    name: str
    start: Callable[[OperatorActions, Any], object]
    help: str


_OFFERS = (
    _Offer(
        "network",
        lambda network: MIGRATION in network.roles,
        "Take migration role from network {}",
        lambda actions, network: actions.take_migration_role(network.id),
        "Migrations of the cluster then use the management network",
    ),
    _Offer(
        "network",
        lambda network: MIGRATION not in network.roles,
        "Grant migration role to network {}",
        lambda actions, network: actions.grant_migration_role(network.id),
        "The role moves from the network holding it",
    ),
    _Offer(
        "idle vm",
        lambda vm: True,
        "Migrate VM {} to…",
        lambda actions, vm: actions.migrate_vm(vm.id, choose=True),
        "Choose among the candidate hosts, each with why it cannot or would fall back",
    ),
    _Offer(
        "idle vm",
        lambda vm: True,
        "Migrate VM {} automatically",
        lambda actions, vm: actions.migrate_vm(vm.id, choose=False),
        "The engine's scheduler chooses the destination",
    ),
    _Offer(
        "vm",
        lambda vm: True,
        "Set migration priority of VM {}…",
        lambda actions, vm: actions.set_vm_priority(vm.id),
        "High, normal or low: the queue admits higher first, AUTO gives a larger share",
    ),
    _Offer(
        "active migration",
        lambda migration: True,
        "Cancel migration of {}",
        lambda actions, migration: actions.cancel_migration(migration.id),
        "The VM keeps running on its source",
    ),
    _Offer(
        "active migration",
        lambda migration: True,
        "Change bandwidth of {}'s migration",
        lambda actions, migration: actions.change_bandwidth(migration.id),
        "A new cap in MiB/s, applied while it runs",
    ),
    _Offer(
        "host",
        lambda host: host.status in IN_MAINTENANCE,
        "Maintenance off: host {}",
        lambda actions, host: actions.set_maintenance(host.id, False),
        "Return the host to service",
    ),
    _Offer(
        "host",
        lambda host: host.status not in IN_MAINTENANCE,
        "Maintenance on: host {}",
        lambda actions, host: actions.set_maintenance(host.id, True),
        "Evacuate its VMs by automatic migration, then hold it",
    ),
)


def _items(context: ViewContext) -> Iterator[tuple[str, Any, str]]:
    """(kind, item, label) of everything an action can be done to, in the palette's order."""
    inventory, board = context.inventory, context.board
    for network in inventory.networks_sorted():
        yield "network", network, f"{inventory.cluster_name(network.cluster_id)}/{network.name}"
    for vm in inventory.vms_sorted():
        yield "vm", vm, vm.name
        if board.active_for_vm(vm.id) is None:
            yield "idle vm", vm, vm.name
    for migration in board.active():
        yield "active migration", migration, migration.vm_name or inventory.vm_name(migration.vm_id)
    for host in inventory.hosts_sorted():
        yield "host", host, host.name


def palette_commands(context: ViewContext) -> list[PaletteCommand]:
    """What the operator can do now, named after the things it is done to."""
    commands = [
        PaletteCommand(
            f"Show {tab}", partial(context.action_show_tab, tab), f"Switch to the {tab} view"
        )
        for tab in TABS
    ]
    commands.append(
        PaletteCommand(
            "Refresh inventory", context.action_refresh, "Ask the engine for everything now"
        )
    )
    actions = context.actions
    for kind, item, label in _items(context):
        commands.extend(
            PaletteCommand(
                offer.name.format(label), partial(offer.start, actions, item), offer.help
            )
            for offer in _OFFERS
            if offer.kind == kind and offer.applies(item)
        )
    return commands


class MiglaneCommands(Provider):
    """Offers `palette_commands` to the command palette (ctrl+p)."""

    @property
    def context(self) -> ViewContext:
        return cast("ViewContext", self.app)

    async def discover(self) -> Hits:
        for command in palette_commands(self.context):
            yield DiscoveryHit(command.name, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in palette_commands(self.context):
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), command.run, help=command.help)
