"""Events: the engine's audit trail, newest at the bottom."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult

from miglane.tui import format as fmt
from miglane.tui.models import EVENT_HISTORY
from miglane.tui.views.base import View
from miglane.tui.widgets.keyed_table import KeyedTable
from miglane.v1 import engine_pb2

EVENT_COLUMNS = [
    ("sequence", "#"),
    ("time", "Time (UTC)"),
    ("severity", "Severity"),
    ("type", "Type"),
    ("actor", "Actor"),
    ("message", "Message"),
]


class EventsView(View):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = KeyedTable(EVENT_COLUMNS, id="events-table")

    def compose(self) -> ComposeResult:
        yield self.table

    def focus_table(self) -> None:
        self.table.focus()

    def refresh_view(self) -> None:
        """Event rows do not depend on the inventory."""

    def add(self, events: Iterable[engine_pb2.Event]) -> None:
        table = self.table
        follow = table.cursor_row >= table.row_count - 1
        for event in events:
            table.put(str(event.sequence), _event_row(event))
        while table.row_count > EVENT_HISTORY:
            table.drop(table.keys[0])
        if follow and table.row_count:
            table.move_cursor(row=table.row_count - 1)


def _event_row(event: engine_pb2.Event) -> tuple[Text, ...]:
    severity = fmt.severity(event.severity)
    kind = fmt.enum_label(engine_pb2.EventType.Name(event.type), "EVENT_TYPE_")
    return (
        Text(str(event.sequence)),
        Text(fmt.timestamp(event.created_at)),
        severity,
        Text(kind, style=severity.style),
        fmt.actor(event.actor),
        Text(event.message, style=severity.style),
    )
