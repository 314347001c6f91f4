"""Modal questions: confirm an action, enter a bandwidth cap, choose a migration priority."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Integer
from textual.widgets import Button, Input, Label, Static

from miglane.tui.format import PRIORITY_LABELS, priority_value


class ConfirmDialog(ModalScreen[bool]):
    """Asks before an action that changes the cluster. Answers True to go ahead."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", tooltip="Go ahead"),
        Binding("n,escape", "answer(False)", "No", tooltip="Leave things as they are"),
    ]

    def __init__(self, title: str, body: str, confirm_label: str = "Yes") -> None:
        super().__init__(classes="dialog")
        self._title = title
        self._body = body
        self._confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self._title, classes="dialog-title")
            yield Static(self._body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._confirm_label} (y)", variant="warning", id="yes")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class BandwidthDialog(ModalScreen[int | None]):
    """Asks for a running migration's new bandwidth cap in MiB/s (0: no cap)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Keep the current cap")]

    def __init__(self, title: str, current_mibps: int) -> None:
        super().__init__(classes="dialog")
        self._title = title
        self._current = current_mibps

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self._title, classes="dialog-title")
            current = f"{self._current} MiB/s" if self._current else "none"
            yield Static(
                f"Current cap: {current}. New cap in MiB/s (0 removes the cap), Enter to apply.",
                classes="dialog-body",
            )
            yield Input(
                value=str(self._current) if self._current else "",
                placeholder="MiB/s",
                type="integer",
                validators=[Integer(minimum=0, maximum=1_000_000)],
                id="bandwidth",
            )
            yield Static("", id="bandwidth-error", classes="dialog-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        result = event.validation_result
        if not event.value.strip() or (result is not None and not result.is_valid):
            self.query_one("#bandwidth-error", Static).update(
                "Enter a whole number of MiB/s, 0 or more."
            )
            return
        self.dismiss(int(event.value))

    def action_cancel(self) -> None:
        self.dismiss(None)


class PriorityDialog(ModalScreen[int | None]):
    """Asks for a VM's migration priority: answers MIGRATION_PRIORITY_HIGH, _NORMAL or _LOW."""

    BINDINGS = [
        Binding("h", "choose('high')", "High", tooltip="Admitted first, twice a normal share"),
        Binding("n", "choose('normal')", "Normal"),
        Binding("l", "choose('low')", "Low", tooltip="Admitted last, half a normal share"),
        Binding("escape", "cancel", "Cancel", tooltip="Keep the current priority"),
    ]

    def __init__(self, title: str, current: str) -> None:
        super().__init__(classes="dialog")
        self._title = title
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self._title, classes="dialog-title")
            yield Static(
                f"Now {self._current}. The queue admits higher priorities first, and AUTO "
                "bandwidth weighs high 4 : normal 2 : low 1 on a shared link.",
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                for label in PRIORITY_LABELS:
                    yield Button(f"{label.capitalize()} ({label[0]})", id=f"priority-{label}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose((event.button.id or "").removeprefix("priority-"))

    def action_choose(self, label: str) -> None:
        self.dismiss(priority_value(label))

    def action_cancel(self) -> None:
        self.dismiss(None)
