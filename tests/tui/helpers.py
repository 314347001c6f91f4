"""What the TUI tests share: a screen as text, waiting for the screen, selecting a row,
answering a confirmation, a steady screen, snapshot comparison (text and SVG)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.pilot import Pilot

from miglane.tui.app import MiglaneApp
from miglane.tui.client import EngineClient
from miglane.tui.widgets.dialogs import ConfirmDialog
from miglane.tui.widgets.keyed_table import KeyedTable

SIZE = (160, 50)
SNAPSHOTS = Path(__file__).parent / "snapshots"
# Set to 1 to rewrite the expected screens from what the TUI draws now; review the diff.
UPDATE_ENV = "MIGLANE_UPDATE_SNAPSHOTS"
# How long a wait for the screen may take before the test fails: generous, since a loaded
# machine can be slow to draw; a TUI that is merely quick returns at once.
WAIT_S = 15.0
# rich names the SVG's styles and clip paths after a hash of the screen; the hash changes with
# anything `normalize` replaces, so it is taken out before comparing (as pytest-textual-snapshot
# does).
_SVG_UNIQUE_ID = re.compile(r"\bterminal-\d+-")


class BoardClock:
    """The TUI's clock for migration histories: stands still, like the engine's, unless a
    test advances it, so that charts are the same every run."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_app(client: EngineClient, **kwargs: float) -> MiglaneApp:
    """The App as the tests run it: fast retries, no animation, a standing history clock
    (so screens are stable)."""
    kwargs.setdefault("refresh_interval_s", 1.0)
    kwargs.setdefault("retry_delay_s", 0.1)
    app = MiglaneApp(client, **kwargs)
    app.animation_level = "none"
    app.board.clock = BoardClock()
    return app


def screen_text(app: App[object]) -> str:
    """The whole screen (with any dialog on top) as plain text, one line per row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips)


async def wait_for(
    pilot: Pilot[object], predicate: Callable[[], object], timeout: float = WAIT_S, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            screen = screen_text(pilot.app)
            raise AssertionError(f"timed out waiting for {what or predicate}\n{screen}")
        await pilot.pause(0.02)


async def wait_for_text(pilot: Pilot[object], text: str, timeout: float = WAIT_S) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), timeout, repr(text))


async def select_row(pilot: Pilot[object], table_id: str, key: str) -> None:
    """Waits until the table `#table_id` has the row `key`, then selects it."""
    table = pilot.app.query_one(f"#{table_id}", KeyedTable)
    await wait_for(pilot, lambda: key in table.keys, what=f"row {key} in {table_id}")
    table.select(key)
    await pilot.pause()


async def confirm(pilot: Pilot[object], answer: str = "y") -> None:
    """Waits for the confirmation dialog, answers it, and waits until it is gone."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm dialog")
    await pilot.press(answer)
    await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="dialog gone")


async def steady(pilot: Pilot[object]) -> None:
    """Clears notifications, then waits until three redraws in a row leave the screen as it is."""
    pilot.app.clear_notifications()
    previous, same = screen_text(pilot.app), 0
    deadline = time.monotonic() + WAIT_S
    while same < 3:
        await pilot.pause()
        current = screen_text(pilot.app)
        same = same + 1 if current == previous else 0
        previous = current
        if time.monotonic() > deadline:
            raise AssertionError(f"the screen keeps changing\n{current}")


def assert_snapshot(
    app: App[object], name: str, normalize: Callable[[str], str] = lambda text: text
) -> None:
    """Compares the screen with snapshots/<name>.txt; MIGLANE_UPDATE_SNAPSHOTS=1 rewrites it.

    `normalize` replaces what may differ between runs (a port) before comparing."""
    _compare(normalize(screen_text(app)) + "\n", SNAPSHOTS / f"{name}.txt")


def assert_svg_snapshot(
    app: App[object], name: str, normalize: Callable[[str], str] = lambda text: text
) -> None:
    """Compares the screen, colours and all, with snapshots/<name>.svg as Textual exports it
    (`App.export_screenshot`, what pytest-textual-snapshot compares); MIGLANE_UPDATE_SNAPSHOTS=1
    rewrites it. Open the .svg in a browser to see the screen."""
    svg = app.export_screenshot(title="Miglane", simplify=True)
    _compare(_SVG_UNIQUE_ID.sub("terminal-", normalize(svg)), SNAPSHOTS / f"{name}.svg")


def _compare(actual: str, path: Path) -> None:
    if os.environ.get(UPDATE_ENV) == "1" or not path.exists():
        path.write_text(actual, encoding="utf-8")
        if os.environ.get(UPDATE_ENV) != "1":
            raise AssertionError(f"wrote the first snapshot {path}: review it, then rerun")
        return
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        failed = path.with_suffix(f".actual{path.suffix}")
        failed.write_text(actual, encoding="utf-8")
        # A text screen reads in the failure; an SVG does not, its file opens in a browser.
        shown = actual if path.suffix == ".txt" else ""
        raise AssertionError(
            f"screen differs from {path.name}; see {failed.name}, "
            f"or rerun with {UPDATE_ENV}=1 to accept it\n{shown}"
        )
