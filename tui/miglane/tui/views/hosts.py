"""Hosts: status with its reason (while evacuating: VMs left and the predicted finish), each
network's attachment and link, migrations out and in."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label

from miglane.tui import format as fmt
from miglane.tui.models import IN_MAINTENANCE, Inventory
from miglane.tui.views.base import View
from miglane.tui.widgets.keyed_table import KeyedTable
from miglane.v1 import engine_pb2

HOST_COLUMNS = [
    ("cluster", "Cluster"),
    ("host", "Host"),
    ("status", "Status"),
    ("reason", "Reason"),
    ("certificate", "Cert days"),
    ("networks", "Networks (link)"),
    ("out", "Out"),
    ("in", "In"),
    ("vms", "VMs"),
]
ATTACHMENT_COLUMNS = [
    ("network", "Network"),
    ("nic", "NIC"),
    ("address", "Address"),
    ("link", "Link"),
    ("speed", "Speed"),
    ("mtu", "MTU"),
]


class HostsView(View):
    BINDINGS = [
        Binding(
            "m",
            "maintenance(True)",
            "Maintenance on",
            tooltip="Evacuate the highlighted host's VMs by automatic migration, then hold it",
            id="maintenance-on",
        ),
        Binding(
            "u",
            "maintenance(False)",
            "Maintenance off",
            tooltip="Return the highlighted host to service",
            id="maintenance-off",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = KeyedTable(HOST_COLUMNS, id="hosts-table")
        self.nics_title = Label("", id="host-nics-title", classes="section-title")
        self.nics = KeyedTable(ATTACHMENT_COLUMNS, id="host-nics-table", cursor_type="none")

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.nics_title
        yield self.nics

    def focus_table(self) -> None:
        self.table.focus()

    def selected_host(self) -> engine_pb2.Host | None:
        key = self.table.selected_key
        return self.context.inventory.hosts.get(key) if key else None

    def refresh_view(self) -> None:
        inventory = self.context.inventory
        vms_per_host: dict[str, int] = {}
        for vm in inventory.vms.values():
            vms_per_host[vm.host_id] = vms_per_host.get(vm.host_id, 0) + 1
        self.table.sync(
            {
                h.id: _host_row(h, inventory, vms_per_host.get(h.id, 0))
                for h in inventory.hosts_sorted()
            }
        )
        self._show_attachments()
        self.update_bindings()

    def _show_attachments(self) -> None:
        host = self.selected_host()
        title = self.nics_title
        table = self.nics
        if host is None:
            title.update("")
            table.sync({})
            return
        title.update(f"Networks of {host.name} (agent {host.agent_address})")
        rows = {}
        for a in sorted(host.attachments, key=lambda a: a.network_name):
            rows[a.network_id] = (
                Text(a.network_name),
                Text(a.nic),
                Text(a.address),
                fmt.link(a.link_up, a.speed_mbit_per_second),
                Text(fmt.link_speed(a.speed_mbit_per_second)),
                Text(str(a.mtu or "-")),
            )
        table.sync(rows)

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.table.id == "hosts-table":
            self._show_attachments()
            self.update_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "maintenance":
            host = self.selected_host()
            if host is None:
                return None
            in_maintenance = host.status in IN_MAINTENANCE
            return None if bool(parameters and parameters[0]) == in_maintenance else True
        return True

    def action_maintenance(self, enabled: bool) -> None:
        host = self.selected_host()
        if host is not None:
            self.context.actions.set_maintenance(host.id, enabled)


def _host_row(host: engine_pb2.Host, inventory: Inventory, vm_count: int) -> tuple[Text, ...]:
    networks = Text()
    for a in sorted(host.attachments, key=lambda a: a.network_name):
        if networks:
            networks.append("  ")
        networks.append(a.network_name)
        if a.link_up:
            networks.append(f"▲{fmt.link_speed(a.speed_mbit_per_second)}", style="green")
        else:
            networks.append("▼down", style="bold red")
    reason_style = "red" if host.status != engine_pb2.HOST_STATUS_UP else ""
    return (
        Text(inventory.cluster_name(host.cluster_id)),
        Text(host.name),
        fmt.evacuation(host) or fmt.host_status(host.status),
        Text(host.status_reason or "-", style=reason_style if host.status_reason else "dim"),
        fmt.certificate_days(host),
        networks or Text("no networks", style="dim"),
        Text(str(host.outgoing_migration_count)),
        Text(str(host.incoming_migration_count)),
        Text(str(vm_count)),
    )
