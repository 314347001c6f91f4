"""VMs: where each runs, its state, its migration priority, how fast it dirties its memory,
its disks and vNIC networks, and its migration if one is under way."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding

from miglane.tui import format as fmt
from miglane.tui.models import Inventory, MigrationBoard
from miglane.tui.views.base import View
from miglane.tui.widgets.keyed_table import KeyedTable
from miglane.v1 import engine_pb2

VM_COLUMNS = [
    ("cluster", "Cluster"),
    ("vm", "VM"),
    ("host", "Host"),
    ("state", "State"),
    ("priority", "Priority"),
    ("memory", "Memory"),
    ("dirty", "Dirty"),
    ("disks", "Disks"),
    ("networks", "Networks"),
    ("migration", "Migration"),
]


class VmsView(View):
    BINDINGS = [
        Binding(
            "m",
            "migrate(True)",
            "Migrate to…",
            tooltip="Choose the destination host; each candidate says why it cannot take the "
            "VM or would fall back to management",
            id="migrate-to",
        ),
        Binding(
            "a",
            "migrate(False)",
            "Migrate (automatic)",
            tooltip="Let the engine's scheduler choose the destination",
            id="migrate-automatic",
        ),
        Binding(
            "p",
            "set_priority",
            "Priority…",
            tooltip="Set the VM's migration priority (admin): the queue admits higher first, "
            "AUTO gives it a larger share of a shared link",
            id="set-priority",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = KeyedTable(VM_COLUMNS, id="vms-table")

    def compose(self) -> ComposeResult:
        yield self.table

    def focus_table(self) -> None:
        self.table.focus()

    def selected_vm(self) -> engine_pb2.Vm | None:
        key = self.table.selected_key
        return self.context.inventory.vms.get(key) if key else None

    def refresh_view(self) -> None:
        inventory = self.context.inventory
        board = self.context.board
        self.table.sync({vm.id: _vm_row(vm, inventory, board) for vm in inventory.vms_sorted()})
        self.update_bindings()

    def show_migration_of(self, vm_id: str) -> None:
        """A migration changed: redraw only its VM's row."""
        vm = self.context.inventory.vms.get(vm_id)
        if vm is not None and vm_id in self.table.keys:
            self.table.put(vm_id, _vm_row(vm, self.context.inventory, self.context.board))

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self.update_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "migrate":
            vm = self.selected_vm()
            if vm is None or self.context.board.active_for_vm(vm.id) is not None:
                return None
        if action == "set_priority" and self.selected_vm() is None:
            return None
        return True

    def action_set_priority(self) -> None:
        vm = self.selected_vm()
        if vm is not None:
            self.context.actions.set_vm_priority(vm.id)

    def action_migrate(self, choose: bool) -> None:
        vm = self.selected_vm()
        if vm is not None:
            self.context.actions.migrate_vm(vm.id, choose=choose)


def _vm_row(vm: engine_pb2.Vm, inventory: Inventory, board: MigrationBoard) -> tuple[Text, ...]:
    migration = board.active_for_vm(vm.id)
    if migration is not None:
        progress = Text(f"→ {inventory.host_name(migration.destination_host_id)} ")
        progress.append_text(fmt.progress_bar(migration.progress_percent, migration.phase, 10))
        progress.append(" ")
        progress.append_text(fmt.phase(migration.phase))
    else:
        progress = Text("-", style="dim")
    return (
        Text(inventory.cluster_name(vm.cluster_id)),
        Text(vm.name),
        Text(inventory.host_name(vm.host_id)),
        fmt.vm_state(vm.state),
        fmt.priority(vm.migration_priority),
        Text(f"{vm.memory_mib} MiB"),
        fmt.dirty_rate(vm),
        fmt.vm_disks(vm),
        fmt.vm_networks(vm),
        progress,
    )
