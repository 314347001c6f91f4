"""Hosts: status with its reason (while evacuating: VMs left and the predicted finish), an
evacuation's progress, each network's attachment and link with the migration traffic crossing
it, migrations out and in."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static

from miglane.tui import format as fmt
from miglane.tui.charts import gauge
from miglane.tui.models import (
    IN_MAINTENANCE,
    EvacuationProgress,
    Inventory,
    LinkTraffic,
    MigrationBoard,
    evacuation_progress,
    link_traffic,
)
from miglane.tui.views.base import View
from miglane.tui.widgets.keyed_table import KeyedTable
from miglane.v1 import engine_pb2

HOST_COLUMNS = [
    ("cluster", "Cluster"),
    ("host", "Host"),
    ("status", "Status"),
    ("evacuation", "Evacuation"),
    ("reason", "Reason"),
    ("certificate", "Cert days"),
    ("networks", "Networks (link)"),
    ("out", "Out"),
    ("in", "In"),
    ("vms", "VMs"),
]
EVACUATION_COLUMN = [key for key, _ in HOST_COLUMNS].index("evacuation")
ATTACHMENT_COLUMNS = [
    ("network", "Network"),
    ("nic", "NIC"),
    ("address", "Address"),
    ("link", "Link"),
    ("speed", "Speed"),
    ("mtu", "MTU"),
    ("egress", "Migration data out"),
    ("ingress", "Migration data in"),
]
EVACUATING = engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE
# Seconds between redraws of the live parts (evacuations, link traffic), which follow the
# migrations' updates rather than the inventory's.
LIVE_INTERVAL_S = 1.0


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
        self.evacuation = Static("", id="host-evacuation")
        self.nics_title = Label("", id="host-nics-title", classes="section-title")
        self.nics = KeyedTable(ATTACHMENT_COLUMNS, id="host-nics-table", cursor_type="none")
        self._shown_heading = ""
        self._shown_evacuation = Text("")

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.evacuation
        yield self.nics_title
        yield self.nics

    def on_mount(self) -> None:
        self.set_interval(LIVE_INTERVAL_S, self._show_live)

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
        board = self.context.board
        self.table.sync(
            {
                h.id: _host_row(h, inventory, vms_per_host.get(h.id, 0), board)
                for h in inventory.hosts_sorted()
            }
        )
        self._show_attachments()
        self.update_bindings()

    def _show_live(self) -> None:
        """Redraws what follows the migrations: evacuating hosts' rows, the selected host's
        evacuation and link traffic. Only while the view is on screen."""
        if not self.is_on_screen:
            return
        inventory, board = self.context.inventory, self.context.board
        for host in inventory.hosts.values():
            cells = self.table.cells_of(host.id)
            if cells is not None and host.status == EVACUATING:
                shown = list(cells)
                shown[EVACUATION_COLUMN] = _evacuation_cell(host, board)
                self.table.put(host.id, shown)
        self._show_attachments()

    def _show_attachments(self) -> None:
        host = self.selected_host()
        title = self.nics_title
        table = self.nics
        self._show_evacuation(host)
        if host is None:
            self._shown_heading = ""
            title.update("")
            table.sync({})
            return
        heading = f"Networks of {host.name} (agent {host.agent_address})"
        if heading != self._shown_heading:
            self._shown_heading = heading
            title.update(heading)
        rows = {}
        migrations = self.context.board.active()
        for a in sorted(host.attachments, key=lambda a: a.network_name):
            traffic = link_traffic(host.id, a, migrations)
            rows[a.network_id] = (
                Text(a.network_name),
                Text(a.nic),
                Text(a.address),
                fmt.link(a.link_up, a.speed_mbit_per_second),
                Text(fmt.link_speed(a.speed_mbit_per_second)),
                Text(str(a.mtu or "-")),
                _traffic_cell(traffic.egress_bytes_per_second, traffic),
                _traffic_cell(traffic.ingress_bytes_per_second, traffic),
            )
        table.sync(rows)

    def _show_evacuation(self, host: engine_pb2.Host | None) -> None:
        evacuating = host is not None and host.status == EVACUATING
        if evacuating and host is not None:
            progress = evacuation_progress(host, self.context.board)
            summary = _evacuation_summary(host, progress)
            if summary != self._shown_evacuation:
                self._shown_evacuation = summary
                # One line, always: redrawing it needs no layout pass of the screen.
                self.evacuation.update(summary, layout=False)
        if self.evacuation.display != evacuating:
            self.evacuation.display = evacuating

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


def _host_row(
    host: engine_pb2.Host, inventory: Inventory, vm_count: int, board: MigrationBoard
) -> tuple[Text, ...]:
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
        _evacuation_cell(host, board),
        Text(host.status_reason or "-", style=reason_style if host.status_reason else "dim"),
        fmt.certificate_days(host),
        networks or Text("no networks", style="dim"),
        Text(str(host.outgoing_migration_count)),
        Text(str(host.incoming_migration_count)),
        Text(str(vm_count)),
    )


def _evacuation_cell(host: engine_pb2.Host, board: MigrationBoard) -> Text:
    """ "▇▇▇░░░░░ 1/3 moved" while the host is being evacuated; a dim "-" otherwise."""
    if host.status != EVACUATING:
        return Text("-", style="dim")
    progress = evacuation_progress(host, board)
    if not progress.total:
        return Text("starting", style="yellow")
    cell = gauge(progress.left, progress.total)
    cell.append(f" {progress.left}/{progress.total} moved")
    if progress.failed:
        cell.append(f" {progress.failed} failed", style="bold red")
    return cell


def _evacuation_summary(host: engine_pb2.Host, progress: EvacuationProgress) -> Text:
    """The selected host's evacuation: where its VMs are, and when it should be over."""
    text = Text(f"Evacuating {host.name}: ", style="bold")
    if not progress.total:
        text.append("no migration started yet", style="yellow")
        return text
    text.append_text(gauge(progress.left, progress.total, width=20))
    text.append(f" {progress.left} of {progress.total} VMs moved · {progress.running} running · ")
    text.append(f"{progress.queued} queued · ")
    text.append(f"{progress.failed} failed", style="bold red" if progress.failed else "")
    text.append(" · finishes ")
    if progress.predicted_finish is None:
        text.append("-", style="dim")
    else:
        text.append(
            f"{fmt.timestamp(progress.predicted_finish)} UTC "
            f"({fmt.predicted_finish(progress.predicted_finish)})"
        )
    if progress.unpredicted:
        text.append(f", {progress.unpredicted} without a prediction", style="yellow")
    return text


def _traffic_cell(used: int, traffic: LinkTraffic) -> Text:
    """ "▇▇▇░░░░░ 312.0 MiB/s of 1.2 GiB/s": one direction's migration data against the
    link's speed."""
    cell = gauge(used, traffic.capacity_bytes_per_second)
    cell.append(f" {fmt.size(used) if used else '0 B'}/s of ", style="" if used else "dim")
    if traffic.capacity_bytes_per_second:
        cell.append(f"{fmt.size(traffic.capacity_bytes_per_second)}/s")
    else:
        cell.append("?", style="dim")
    return cell
