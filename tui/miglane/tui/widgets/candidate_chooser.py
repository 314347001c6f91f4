"""Where should the VM go: each host of its cluster, why it cannot, or why it would fall back."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from miglane.tui import format as fmt
from miglane.tui.widgets.keyed_table import KeyedTable
from miglane.v1 import engine_pb2

AUTOMATIC = "__automatic__"

COLUMNS = [
    ("host", "Destination"),
    ("verdict", "Verdict"),
    ("network", "Data would go over"),
    ("why", "Why"),
]


class CandidateChooser(ModalScreen[str | None]):
    """Answers the chosen host id, "" for an automatic migration, None when dismissed."""

    BINDINGS = [
        Binding("enter", "choose", "Migrate there", tooltip="Migrate the VM to this host"),
        Binding("a", "automatic", "Automatic", tooltip="Let the engine's scheduler choose"),
        Binding("escape", "dismiss_chooser", "Cancel", tooltip="Do not migrate"),
    ]

    def __init__(
        self,
        vm_name: str,
        source_name: str,
        candidates: list[engine_pb2.MigrationCandidate],
        network_name: Callable[[str], str],
    ) -> None:
        super().__init__(classes="dialog")
        self._vm_name = vm_name
        self._source_name = source_name
        self._candidates = {c.host_id: c for c in candidates}
        self._network_name = network_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box chooser-box"):
            yield Label(
                f"Migrate {self._vm_name} (now on {self._source_name}) to…", classes="dialog-title"
            )
            yield KeyedTable(COLUMNS, id="candidates")
            yield Static(
                "Enter: migrate to the highlighted host · a: automatic · Esc: cancel",
                id="chooser-hint",
                classes="dialog-body",
            )

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        suitable = [c for c in self._candidates.values() if c.suitable]
        best = max(suitable, key=lambda c: c.score, default=None)
        table.put(
            AUTOMATIC,
            (
                Text("⚙ automatic", style="bold"),
                Text("scheduler", style="cyan"),
                Text("-"),
                Text(
                    f"the engine chooses (now it would pick {best.host_name})"
                    if best
                    else "no host is suitable now",
                    style="" if best else "bold red",
                ),
            ),
        )
        for candidate in sorted(self._candidates.values(), key=lambda c: c.host_name):
            table.put(candidate.host_id, self._row(candidate))
        table.focus()

    def _row(self, candidate: engine_pb2.MigrationCandidate) -> tuple[Text, ...]:
        if candidate.suitable:
            verdict = Text("✓ suitable", style="green")
        elif candidate.manual_allowed:
            verdict = Text("~ manual only", style="yellow")
        else:
            verdict = Text("✗ cannot", style="bold red")
        why = Text("; ".join(candidate.rejections), style="red" if candidate.rejections else "")
        if fmt.is_fallback(candidate.fallback_reason) and candidate.fallback_detail:
            if why:
                why.append("; ")
            why.append(f"falls back: {candidate.fallback_detail}", style="yellow")
        network = fmt.carrier(
            self._network_name(candidate.network_id) if candidate.network_id else "",
            candidate.fallback_reason,
        )
        return (Text(candidate.host_name), verdict, network, why or Text("-", style="dim"))

    def action_choose(self) -> None:
        key = self.query_one(KeyedTable).selected_key
        if key is None:
            return
        if key == AUTOMATIC:
            self.dismiss("")
            return
        candidate = self._candidates[key]
        if not candidate.manual_allowed:
            self.query_one("#chooser-hint", Static).update(
                Text(
                    f"{candidate.host_name} cannot take {self._vm_name}: "
                    + "; ".join(candidate.rejections),
                    style="bold red",
                )
            )
            self.app.bell()
            return
        self.dismiss(candidate.host_id)

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

    def action_automatic(self) -> None:
        self.dismiss("")

    def action_dismiss_chooser(self) -> None:
        self.dismiss(None)
