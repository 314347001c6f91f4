"""The keyed table: rows by key, redrawn one at a time, a cursor that says where it is."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from miglane.tui.widgets.keyed_table import KeyedTable

COLUMNS = [("name", "Name"), ("state", "State")]


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str | None] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="t")

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self.highlighted.append(event.key)

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        self.selected.append(event.key)


def lines(table: KeyedTable) -> list[str]:
    return [table.render_line(y).text.rstrip() for y in range(table.row_count + 1)]


async def test_rows_by_key_in_order_with_the_header_first() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync({"b": ("beta", "up"), "a": ("alpha", Text("down", style="red"))})
        await pilot.pause()
        assert table.keys == ["b", "a"]
        assert lines(table) == [" Name   State", " beta   up", " alpha  down"]
        table.put("c", ("a much longer name", "up"))
        table.drop("b")
        await pilot.pause()
        assert table.keys == ["a", "c"]
        assert lines(table)[0] == " Name                State"
        # sync shrinks the columns back to what they hold
        table.sync({"a": ("alpha", "up")})
        assert lines(table) == [" Name   State", " alpha  up"]


async def test_a_changed_row_is_drawn_again_and_the_others_are_not() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync({key: (key, "queued") for key in ("m1", "m2", "m3")})
        await pilot.pause()
        drawn = {key: table._lines[key] for key in table.keys}
        table.put("m2", ("m2", "queued"))  # same cells: nothing to draw
        table.put("m3", ("m3", "run"))  # fits the column: only its line is forgotten
        await pilot.pause()
        assert table._lines["m1"] is drawn["m1"]
        assert table._lines["m2"] is drawn["m2"]
        assert table._lines["m3"] is not drawn["m3"]
        assert table.row_text("m3").rstrip() == " m3    run"


async def test_the_cursor_moves_announces_and_selects() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync({key: (key, "") for key in ("a", "b", "c")})
        table.focus()
        await pilot.pause()
        assert table.selected_key == "a"
        await pilot.press("down", "down", "down")
        assert table.selected_key == "c"
        await pilot.press("enter")
        await pilot.press("home")
        await pilot.pause()
        assert app.selected == ["c"]
        assert app.highlighted == ["a", "b", "c", "a"]
        # The cursor stays on its key when rows are reordered around it.
        table.select("b")
        table.sync({"c": ("c", ""), "b": ("b", ""), "a": ("a", "")})
        assert (table.selected_key, table.cursor_row) == ("b", 1)
        await pilot.click(KeyedTable, offset=(2, 3))
        await pilot.pause()
        assert table.selected_key == "a"
        assert app.selected == ["c", "a"]


async def test_the_cursor_row_scrolls_into_view() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync({f"r{i:02d}": (f"r{i:02d}", "") for i in range(30)})
        table.focus()
        await pilot.press("end")
        await pilot.pause()
        screen = [strip.text.rstrip() for strip in app.screen._compositor.render_strips()]
        assert screen[0].split() == ["Name", "State"]
        assert screen[-1].strip() == "r29"


async def test_a_column_narrows_once_its_widest_cell_does() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync({"a": ("a", "3m10s"), "b": ("b", "9s")})
        table.put("a", ("a", "59s"))  # the widest ETA shrinks: the column follows
        await pilot.pause()
        assert lines(table) == [" Name  State", " a     59s", " b     9s"]
