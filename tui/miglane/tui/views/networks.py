"""Networks per cluster: subnet, required, roles (the migration role stands out), hosts on it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label

from miglane.tui import format as fmt
from miglane.tui.models import MIGRATION, Inventory
from miglane.tui.views.base import View
from miglane.tui.widgets.keyed_table import KeyedTable
from miglane.v1 import engine_pb2

NETWORK_COLUMNS = [
    ("cluster", "Cluster"),
    ("network", "Network"),
    ("subnet", "Subnet"),
    ("required", "Required"),
    ("roles", "Roles"),
    ("qos", "QoS"),
    ("hosts", "Hosts attached (link)"),
]
ATTACHMENT_COLUMNS = [
    ("host", "Host"),
    ("status", "Host status"),
    ("nic", "NIC"),
    ("address", "Address"),
    ("link", "Link"),
    ("mtu", "MTU"),
]


class NetworksView(View):
    BINDINGS = [
        Binding(
            "g",
            "grant_migration_role",
            "Grant migration role",
            tooltip="Give the highlighted network the migration role (it moves from its holder)",
            id="grant-migration-role",
        ),
        Binding(
            "t",
            "take_migration_role",
            "Take migration role",
            tooltip="Take the migration role from the highlighted network: "
            "migrations then use the management network",
            id="take-migration-role",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Kept, not queried: updates arriving while the App shuts down still find them.
        self.table = KeyedTable(NETWORK_COLUMNS, id="networks-table")
        self.attachments_title = Label("", id="attachments-title", classes="section-title")
        self.attachments = KeyedTable(
            ATTACHMENT_COLUMNS, id="attachments-table", cursor_type="none"
        )

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.attachments_title
        yield self.attachments

    def focus_table(self) -> None:
        self.table.focus()

    def selected_network(self) -> engine_pb2.Network | None:
        key = self.table.selected_key
        return self.context.inventory.networks.get(key) if key else None

    def refresh_view(self) -> None:
        inventory = self.context.inventory
        self.table.sync({n.id: _network_row(n, inventory) for n in inventory.networks_sorted()})
        self._show_attachments()
        self.update_bindings()

    def _show_attachments(self) -> None:
        inventory = self.context.inventory
        network = self.selected_network()
        title = self.attachments_title
        table = self.attachments
        if network is None:
            title.update("")
            table.sync({})
            return
        cluster = inventory.cluster_name(network.cluster_id)
        title.update(f"Hosts of cluster {cluster} on network {network.name} ({network.subnet})")
        rows = {}
        for host, attachment in inventory.attachments_of(network.id):
            if attachment is None:
                rows[host.id] = (
                    Text(host.name),
                    fmt.host_status(host.status),
                    Text("-", style="dim"),
                    Text("not attached", style="dim"),
                    Text("-", style="dim"),
                    Text("-", style="dim"),
                )
            else:
                rows[host.id] = (
                    Text(host.name),
                    fmt.host_status(host.status),
                    Text(attachment.nic),
                    Text(attachment.address),
                    fmt.link(attachment.link_up, attachment.speed_mbit_per_second),
                    Text(str(attachment.mtu or "-")),
                )
        table.sync(rows)

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.table.id == "networks-table":
            self._show_attachments()
            self.update_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "grant_migration_role":
            network = self.selected_network()
            return None if network is None or MIGRATION in network.roles else True
        if action == "take_migration_role":
            network = self.selected_network()
            return True if network is not None and MIGRATION in network.roles else None
        return True

    def action_grant_migration_role(self) -> None:
        network = self.selected_network()
        if network is not None:
            self.context.actions.grant_migration_role(network.id)

    def action_take_migration_role(self) -> None:
        network = self.selected_network()
        if network is not None:
            self.context.actions.take_migration_role(network.id)


def _network_row(network: engine_pb2.Network, inventory: Inventory) -> tuple[Text, ...]:
    attached = Text()
    missing = 0
    for host, attachment in inventory.attachments_of(network.id):
        if attachment is None:
            missing += 1
            continue
        if attached:
            attached.append(" ")
        attached.append(host.name)
        attached.append(
            "▲" if attachment.link_up else "▼",
            style="green" if attachment.link_up else "bold red",
        )
    if missing:
        attached.append(f"{' · ' if attached else ''}{missing} not attached", style="dim")
    qos = f"{network.qos_mbit_per_second} Mb/s" if network.HasField("qos_mbit_per_second") else "-"
    name_style = "bold magenta" if MIGRATION in network.roles else ""
    return (
        Text(inventory.cluster_name(network.cluster_id)),
        Text(network.name, style=name_style),
        Text(network.subnet),
        Text("required" if network.required else "-", style="" if network.required else "dim"),
        fmt.roles(list(network.roles)),
        Text(qos),
        attached or Text("none", style="dim"),
    )
