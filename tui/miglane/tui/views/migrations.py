"""Migrations, live: progress that never goes backwards, the figures, and the network used."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar, Static

from miglane.tui import format as fmt
from miglane.tui.models import Inventory, is_active
from miglane.tui.views.base import View
from miglane.tui.widgets.keyed_table import KeyedTable
from miglane.v1 import engine_pb2
from miglane.v1.data_sent import memory_sent_sentence

MIGRATION_COLUMNS = [
    ("vm", "VM"),
    ("route", "From → To"),
    ("kind", "Kind"),
    ("phase", "Phase"),
    ("progress", "Progress"),
    ("throughput", "Throughput"),
    ("remaining", "Remaining"),
    ("eta", "ETA"),
    ("finish", "Finish"),
    ("dirty", "Dirty rate"),
    ("iteration", "Iter"),
    ("cap", "Cap"),
    ("network", "Network used"),
]


class MigrationsView(View):
    BINDINGS = [
        Binding(
            "c",
            "cancel_migration",
            "Cancel",
            tooltip="Cancel the highlighted migration; the VM keeps running on its source",
            id="cancel-migration",
        ),
        Binding(
            "b",
            "change_bandwidth",
            "Bandwidth",
            tooltip="Change the highlighted migration's bandwidth cap while it runs",
            id="change-bandwidth",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = KeyedTable(MIGRATION_COLUMNS, id="migrations-table")
        self.heading = Label(
            "No migration highlighted.", id="migration-title", classes="section-title"
        )
        self.bar = ProgressBar(total=100, show_eta=False, id="migration-progress")
        self.facts = Static("", id="migration-facts")
        self._shown_title = ""
        self._shown_facts = Text("")

    def compose(self) -> ComposeResult:
        yield self.table
        with Vertical(id="migration-detail"):
            yield self.heading
            yield self.bar
            yield self.facts

    def focus_table(self) -> None:
        self.table.focus()

    def selected_migration(self) -> engine_pb2.Migration | None:
        key = self.table.selected_key
        return self.context.board.get(key) if key else None

    def refresh_view(self) -> None:
        """The inventory changed (names, hosts): redraw every row."""
        inventory = self.context.inventory
        self.table.sync({m.id: _migration_row(m, inventory) for m in _ordered(self.context.board)})
        self._show_detail()
        self.update_bindings()

    def show(self, migration_ids: Iterable[str]) -> None:
        """Some migrations changed: redraw their rows only."""
        inventory = self.context.inventory
        board = self.context.board
        selected = self.table.selected_key
        touched_selected = False
        for migration_id in migration_ids:
            migration = board.get(migration_id)
            if migration is None:
                self.table.drop(migration_id)
            else:
                self.table.put(migration_id, _migration_row(migration, inventory))
            touched_selected |= migration_id == selected
        if touched_selected or selected is None:
            self._show_detail()
            self.update_bindings()

    def _show_detail(self) -> None:
        migration = self.selected_migration()
        if migration is None:
            self._set_detail("No migration highlighted.", 0, Text(""))
            return
        inventory = self.context.inventory
        title = (
            f"{migration.vm_name or inventory.vm_name(migration.vm_id)}: "
            f"{inventory.host_name(migration.source_host_id)} → "
            f"{inventory.host_name(migration.destination_host_id)} "
            f"({'automatic' if migration.automatic else 'chosen by the operator'}) · "
            f"{fmt.PHASE_STYLES.get(migration.phase, ('?', ''))[0]}"
        )
        self._set_detail(title, migration.progress_percent, _facts(migration, inventory))

    def _set_detail(self, title: str, progress: int, facts: Text) -> None:
        # The panel has a fixed size: updating it redraws it alone, without a layout pass of
        # the whole screen, which matters when the highlighted migration changes many times
        # a second.
        if title != self._shown_title:
            self._shown_title = title
            self.heading.update(title, layout=False)
        if progress != self.bar.progress:
            self.bar.update(progress=progress)
        if facts != self._shown_facts:
            self._shown_facts = facts
            self.facts.update(facts, layout=False)

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show_detail()
        self.update_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("cancel_migration", "change_bandwidth"):
            migration = self.selected_migration()
            return True if migration is not None and is_active(migration) else None
        return True

    def action_cancel_migration(self) -> None:
        migration = self.selected_migration()
        if migration is not None:
            self.context.actions.cancel_migration(migration.id)

    def action_change_bandwidth(self) -> None:
        migration = self.selected_migration()
        if migration is not None:
            self.context.actions.change_bandwidth(migration.id)


def _ordered(migrations: Iterable[engine_pb2.Migration]) -> list[engine_pb2.Migration]:
    return sorted(migrations, key=lambda m: (m.created_at.seconds, m.created_at.nanos, m.id))


def _migration_row(migration: engine_pb2.Migration, inventory: Inventory) -> tuple[Text, ...]:
    return (
        Text(migration.vm_name or inventory.vm_name(migration.vm_id)),
        Text(
            f"{inventory.host_name(migration.source_host_id)} → "
            f"{inventory.host_name(migration.destination_host_id)}"
        ),
        Text("auto" if migration.automatic else "manual"),
        fmt.phase(migration.phase),
        fmt.progress_bar(migration.progress_percent, migration.phase),
        Text(fmt.rate(migration.throughput_bytes_per_second)),
        Text(fmt.size(migration.data_remaining_bytes)),
        Text(fmt.duration(migration.eta.seconds)),
        fmt.prediction(migration),
        Text(fmt.rate(migration.dirty_rate_bytes_per_second)),
        Text(str(migration.iteration or "-")),
        Text(fmt.mibps(migration.max_bandwidth_mib_per_second)),
        fmt.carrier(
            inventory.network_name(migration.network_id) if migration.network_id else "",
            migration.fallback_reason,
        ),
    )


# A migration of these priorities says nothing about it (most do).
_PLAIN_PRIORITIES = (
    engine_pb2.MIGRATION_PRIORITY_UNSPECIFIED,
    engine_pb2.MIGRATION_PRIORITY_NORMAL,
)


def _append_path_proof(text: Text, migration: engine_pb2.Migration) -> None:
    """The proof of path the source's NIC counters gave, flagged when the data left by
    another NIC; nothing before it was measured, nor while too little data was sent to tell."""
    proof = migration.path_proof
    if not migration.HasField("path_proof") or (
        proof.verdict == engine_pb2.PATH_VERDICT_TOO_LITTLE_DATA and is_active(migration)
    ):
        return
    if proof.verdict == engine_pb2.PATH_VERDICT_OFF_PATH:
        text.append(" OFF PATH ", style=fmt.FALLBACK_STYLE)
        text.append(f" {proof.summary}\n", style="bold red")
    else:
        text.append(f"Measured: {proof.summary}\n")


def _facts(migration: engine_pb2.Migration, inventory: Inventory) -> Text:
    text = Text()
    network = inventory.network_name(migration.network_id) if migration.network_id else "?"
    if fmt.is_fallback(migration.fallback_reason):
        text.append(f" FALLBACK to {network} ", style=fmt.FALLBACK_STYLE)
        text.append(
            f" {fmt.fallback_label(migration.fallback_reason)}: "
            f"{migration.fallback_detail or 'no detail from the engine'}\n",
            style="yellow",
        )
    else:
        text.append(f"Data over {network}")
        if migration.migration_uri:
            text.append(f" ({migration.migration_uri})")
        text.append("\n")
    if migration.priority not in _PLAIN_PRIORITIES:
        overridden = " (set on the migration)" if migration.priority_overridden else ""
        text.append(f"Priority: {fmt.priority_label(migration.priority)}{overridden}\n")
    _append_path_proof(text, migration)
    if migration.queue_reason:
        text.append(f"Waiting: {migration.queue_reason}\n", style="yellow")
    if migration.verdict_reason:
        text.append("Predicted: finishes ")
        text.append(fmt.predicted_finish(migration.expected_finish_at))
        text.append(" · ")
        text.append_text(fmt.verdict(migration.verdict))
        text.append(f": {migration.verdict_reason}\n")
    if migration.error:
        text.append(f"Error: {migration.error}\n", style="bold red")
    disk = fmt.disk_copy(migration)
    if disk:
        text.append(f"{disk}\n")
    sent = memory_sent_sentence(migration)
    text.append(
        f"{sent + ' · ' if sent else ''}"
        f"cap {fmt.mibps(migration.max_bandwidth_mib_per_second)} · "
        f"throughput {fmt.rate(migration.throughput_bytes_per_second)} · "
        f"dirty {fmt.rate(migration.dirty_rate_bytes_per_second)} · "
        f"iteration {migration.iteration or '-'} · ETA {fmt.duration(migration.eta.seconds)}"
    )
    if migration.downtime.ToMilliseconds():
        text.append(f" · downtime {migration.downtime.ToMilliseconds()} ms")
    return text
