"""A DataTable whose rows are kept by key: a changed value updates its cell, nothing more."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

Cell = str | Text


class KeyedTable(DataTable[Cell]):
    """Rows are identified by the engine's ids.

    `put` adds a row or updates only the cells whose value changed (`update_cell`), so a flood
    of updates to one migration redraws one row. `sync` makes the table show exactly the
    given rows, in the given order, keeping the cursor on the same key.
    """

    def __init__(self, columns: Sequence[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        super().__init__(**kwargs)
        self._column_keys = [key for key, _ in columns]
        for key, label in columns:
            self.add_column(label, key=key)
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []

    @property
    def keys(self) -> list[str]:
        return list(self._order)

    @property
    def selected_key(self) -> str | None:
        if not self._order or not self.is_valid_row_index(self.cursor_row):
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except (CellDoesNotExist, RowDoesNotExist):
            return None
        return key

    def cells_of(self, key: str) -> tuple[Cell, ...] | None:
        return self._cells.get(key)

    def select(self, key: str) -> None:
        if key in self._cells:
            self.move_cursor(row=self.get_row_index(key))

    def put(self, key: str, cells: Sequence[Cell]) -> None:
        values = tuple(cells)
        previous = self._cells.get(key)
        if previous is None:
            self.add_row(*values, key=key)
            self._order.append(key)
        else:
            for column, old, new in zip(self._column_keys, previous, values, strict=True):
                if old != new:
                    # Columns only grow: re-measuring a column after a cell shrank reads every
                    # row of it, which under a flood of updates costs more than drawing.
                    grows = _width(new) > self.columns[ColumnKey(column)].content_width
                    self.update_cell(key, column, new, update_width=grows)
        self._cells[key] = values

    def drop(self, key: str) -> None:
        if key in self._cells:
            self.remove_row(key)
            del self._cells[key]
            self._order.remove(key)

    def sync(self, rows: Mapping[str, Sequence[Cell]]) -> None:
        wanted = list(rows)
        kept = [key for key in self._order if key in rows]
        if kept != wanted[: len(kept)]:
            # A row was inserted in the middle, or the order changed: rebuild, cursor kept.
            selected = self.selected_key
            self.clear()
            self._cells.clear()
            self._order.clear()
            for key in wanted:
                self.put(key, rows[key])
            if selected is not None:
                self.select(selected)
            self._fit_columns()
            return
        for key in [k for k in self._order if k not in rows]:
            self.drop(key)
        for key in wanted:
            self.put(key, rows[key])
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Columns to the width of what they hold now, in one pass (`put` only grows them)."""
        changed = False
        for index, key in enumerate(self._column_keys):
            column = self.columns[ColumnKey(key)]
            width = max(
                (_width(cells[index]) for cells in self._cells.values()),
                default=0,
            )
            width = max(width, cell_len(column.label.plain))
            if width != column.content_width:
                column.content_width = width
                changed = True
        if changed:
            self._require_update_dimensions = True
            self.refresh(layout=True)


def _width(cell: Cell) -> int:
    return cell_len(cell.plain if isinstance(cell, Text) else cell)
