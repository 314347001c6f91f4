"""A table whose rows are kept by key, drawn line by line: a changed row is drawn again, nothing
else.

Textual's DataTable forgets every rendered row whenever one cell changes, so 500 live migrations
updating twice a second cost a full redraw of the screen each time. This table keeps each row's
rendered line until that row changes (its cells, the column widths, the cursor on it, the
styles), and draws only the lines on screen (the Line API of `ScrollView`): updating rows off
screen costs a dictionary write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text

# Spaces on each side of a cell's content (DataTable's default, so screens read the same).
CELL_PADDING = 1


class KeyedTable(ScrollView, can_focus=True):
    """Rows are identified by the engine's ids; the header stays on the first line.

    `put` adds a row or replaces its cells (the row is drawn again only if a cell changed),
    `drop` removes one, `sync` makes the table show exactly the given rows in the given order,
    keeping the cursor on the same key. The cursor (`cursor_type="row"`) posts `RowHighlighted`
    when it moves to another row and `RowSelected` on enter or a click.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select_cursor", "Select", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keyed-table--header",
        "keyed-table--cursor",
        "keyed-table--cursor-blurred",
    }

    DEFAULT_CSS = """
    KeyedTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
    }
    KeyedTable > .keyed-table--header {
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    KeyedTable > .keyed-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    KeyedTable > .keyed-table--cursor-blurred {
        background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground;
        text-style: $block-cursor-blurred-text-style;
    }
    """

    class RowHighlighted(Message):
        """The cursor moved to the row `key` (None: the table is empty)."""

        def __init__(self, table: KeyedTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            return self.table

    class RowSelected(Message):
        """The row `key` was chosen (enter, or a click)."""

        def __init__(self, table: KeyedTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(
        self, columns: Sequence[tuple[str, str]], *, cursor_type: str = "row", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._column_keys = [key for key, _ in columns]
        self._labels = [label for _, label in columns]
        self._widths = [cell_len(label) for label in self._labels]
        # Columns that may have become too wide (see `_note_shrinking`).
        self._shrinking: set[int] = set()
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._lines: dict[str, Strip] = {}  # each row's rendered line, until it changes
        self._header: Strip | None = None
        self._show_cursor = cursor_type != "none"
        self._cursor = 0
        self._highlighted: str | None = None
        self._update_size()

    # ------------------------------------------------------------ reading

    @property
    def keys(self) -> list[str]:
        return list(self._order)

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def selected_key(self) -> str | None:
        if not self._show_cursor or not self._order:
            return None
        return self._order[min(self._cursor, len(self._order) - 1)]

    @property
    def cursor_row(self) -> int:
        return self._cursor

    def cells_of(self, key: str) -> tuple[Cell, ...] | None:
        return self._cells.get(key)

    def row_text(self, key: str) -> str:
        """The row as it reads on screen (tests and screen dumps)."""
        return self._render_line(key, Style()).text

    # ------------------------------------------------------------ writing

    def select(self, key: str) -> None:
        if key in self._index:
            self._move_cursor(self._index[key])

    def move_cursor(self, *, row: int) -> None:
        self._move_cursor(row)

    def put(self, key: str, cells: Sequence[Cell]) -> None:
        values = tuple(cells)
        if len(values) != len(self._column_keys):
            raise ValueError(f"{len(values)} cells for {len(self._column_keys)} columns")
        previous = self._cells.get(key)
        if previous == values:
            return
        self._cells[key] = values
        if key not in self._index:
            self._index[key] = len(self._order)
            self._order.append(key)
            self._update_size()
            if len(self._order) == 1:
                self._announce_highlight()
        changed: Sequence[int]
        if previous is None:
            changed = range(len(values))
        else:
            changed = [i for i, (a, b) in enumerate(zip(previous, values, strict=True)) if a != b]
            self._note_shrinking(previous, values, changed)
        if self._grow_columns(values, changed):
            return
        self._lines.pop(key, None)
        self._refresh_row(key)

    def drop(self, key: str) -> None:
        if key not in self._cells:
            return
        selected = self.selected_key
        del self._cells[key]
        self._lines.pop(key, None)
        self._order.remove(key)
        self._reindex()
        self._update_size()
        self._cursor = min(self._cursor, max(0, len(self._order) - 1))
        self.refresh()
        if selected == key:
            self._announce_highlight()

    def sync(self, rows: Mapping[str, Sequence[Cell]]) -> None:
        selected = self.selected_key
        wanted = list(rows)
        if wanted != self._order:
            self._cells = {key: self._cells[key] for key in wanted if key in self._cells}
            self._lines = {key: self._lines[key] for key in wanted if key in self._lines}
            self._order = wanted
            self._reindex()
            self._update_size()
            self.refresh()
        for key in wanted:
            self.put(key, rows[key])
        self._fit_columns()
        if selected in self._index:
            self._cursor = self._index[selected]
        else:
            self._cursor = min(self._cursor, max(0, len(self._order) - 1))
        self._announce_highlight()

    def clear(self) -> None:
        self.sync({})

    # ------------------------------------------------------------ cursor

    def action_cursor_up(self) -> None:
        self._move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self._move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self._move_cursor(self._cursor - max(1, self.scrollable_content_region.height - 1))

    def action_page_down(self) -> None:
        self._move_cursor(self._cursor + max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        self._move_cursor(0)

    def action_last(self) -> None:
        self._move_cursor(len(self._order) - 1)

    def action_select_cursor(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= index < len(self._order):
            self._move_cursor(index)
            self.action_select_cursor()

    def _move_cursor(self, index: int) -> None:
        if not self._show_cursor or not self._order:
            return
        index = max(0, min(index, len(self._order) - 1))
        old = self._order[min(self._cursor, len(self._order) - 1)]
        self._cursor = index
        new = self._order[index]
        for key in {old, new}:
            self._lines.pop(key, None)
            self._refresh_row(key)
        self._scroll_to_cursor()
        self._announce_highlight()

    def _scroll_to_cursor(self) -> None:
        # After the next refresh: rows just added have no room on screen yet.
        self.call_after_refresh(self._scroll_to_cursor_now)

    def _scroll_to_cursor_now(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_offset.y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False)

    def _announce_highlight(self) -> None:
        key = self.selected_key
        if key != self._highlighted:
            self._highlighted = key
            self.post_message(self.RowHighlighted(self, key))

    def on_focus(self) -> None:
        self._redraw_cursor_row()

    def on_blur(self) -> None:
        self._redraw_cursor_row()

    def _redraw_cursor_row(self) -> None:
        key = self.selected_key
        if key is not None:
            self._lines.pop(key, None)
            self._refresh_row(key)

    # ------------------------------------------------------------ drawing

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_lines()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if y == 0:
            if self._header is None:
                self._header = self._render_header()
            return self._header.crop_extend(scroll_x, scroll_x + width, self.rich_style)
        index = scroll_y + y - 1
        if not 0 <= index < len(self._order):
            return Strip.blank(width, self.rich_style)
        key = self._order[index]
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = self._render_line(key, self._row_style(index))
        return line.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _row_style(self, index: int) -> Style:
        if not self._show_cursor or index != self._cursor:
            return self.rich_style
        name = "keyed-table--cursor" if self.has_focus else "keyed-table--cursor-blurred"
        return self.rich_style + self.get_component_rich_style(name)

    def _render_header(self) -> Strip:
        style = self.rich_style + self.get_component_rich_style("keyed-table--header")
        return self._strip(list(self._labels), style)

    def _render_line(self, key: str, style: Style) -> Strip:
        return self._strip(list(self._cells[key]), style)

    def _strip(self, cells: list[Cell], style: Style) -> Strip:
        line = Text(style=style, no_wrap=True, end="")
        pad = " " * CELL_PADDING
        for cell, width in zip(cells, self._widths, strict=True):
            text = cell if isinstance(cell, Text) else Text(cell)
            line.append(pad)
            line.append_text(text)
            line.append(" " * (width - text.cell_len) + pad)
        segments = [
            Segment(s.text, style + s.style if s.style else style)
            for s in line.render(self.app.console)
        ]
        return Strip(segments, self._total_width())

    # ------------------------------------------------------------ geometry

    def _total_width(self) -> int:
        return sum(self._widths) + 2 * CELL_PADDING * len(self._widths)

    def _update_size(self) -> None:
        self.virtual_size = Size(self._total_width(), len(self._order) + 1)

    def _grow_columns(self, values: tuple[Cell, ...], changed: Sequence[int]) -> bool:
        """Widens the columns `values` do not fit in; True if any grew (all lines redrawn).
        Only the cells at the `changed` indexes are measured: the others fitted already."""
        grew = False
        for index in changed:
            width = _width(values[index])
            if width > self._widths[index]:
                self._widths[index] = width
                grew = True
        if grew:
            self._forget_lines()
            self._update_size()
            self.refresh()
        return grew

    def _note_shrinking(
        self, previous: tuple[Cell, ...], values: tuple[Cell, ...], changed: Sequence[int]
    ) -> None:
        """A cell that was as wide as its column got narrower: the column may shrink. It is
        measured again once, after the updates now queued (a flood of them costs one pass)."""
        shrinking = [
            i
            for i in changed
            if _width(previous[i]) == self._widths[i] and _width(values[i]) < self._widths[i]
        ]
        if not shrinking:
            return
        if not self._shrinking:
            self.call_later(self._fit_shrinking)
        self._shrinking.update(shrinking)

    def _fit_shrinking(self) -> None:
        """The columns `_note_shrinking` flagged, to the width of what they hold now."""
        columns, self._shrinking = self._shrinking, set()
        widths = list(self._widths)
        for index in columns:
            widths[index] = max(
                [cell_len(self._labels[index]), *(_width(c[index]) for c in self._cells.values())]
            )
        self._set_widths(widths)

    def _fit_columns(self) -> None:
        """Columns to the width of what they hold now, in one pass (`put` only grows them)."""
        widths = [cell_len(label) for label in self._labels]
        for cells in self._cells.values():
            for index, cell in enumerate(cells):
                widths[index] = max(widths[index], _width(cell))
        self._set_widths(widths)

    def _set_widths(self, widths: list[int]) -> None:
        if widths != self._widths:
            self._widths = widths
            self._forget_lines()
            self._update_size()
            self.refresh()

    def _forget_lines(self) -> None:
        self._lines.clear()
        self._header = None

    def _reindex(self) -> None:
        self._index = {key: index for index, key in enumerate(self._order)}

    def _refresh_row(self, key: str) -> None:
        index = self._index.get(key)
        if index is None:
            return
        top = int(self.scroll_offset.y)
        if top <= index < top + self.scrollable_content_region.height:
            self.refresh_line(index + 1)


def _width(cell: Cell) -> int:
    return cell_len(cell.plain if isinstance(cell, Text) else cell)
