"""Small charts drawn with block characters: a series as a sparkline, a share as a gauge."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

# Eighths of a cell, lowest first: a value of 0 draws the lowest, so a flat zero still shows.
SPARK_LEVELS = "▁▂▃▄▅▆▇█"
GAUGE_FILLED = "▇"
GAUGE_EMPTY = "░"
GAUGE_WIDTH = 8


def sparkline(values: Sequence[int], width: int) -> str:
    """The last `width` values, one cell each, newest at the right, scaled from 0 to the
    largest of them; blank cells on the left where the series is shorter."""
    shown = list(values)[-width:] if width > 0 else []
    peak = max(shown, default=0)
    top = len(SPARK_LEVELS) - 1
    cells = [SPARK_LEVELS[round(top * max(value, 0) / peak) if peak > 0 else 0] for value in shown]
    return " " * (width - len(shown)) + "".join(cells)


def gauge(used: int, capacity: int, width: int = GAUGE_WIDTH) -> Text:
    """`used` of `capacity` as filled cells: any use shows at least one, over capacity all in
    red; all empty and dim when the capacity is unknown."""
    if capacity <= 0:
        return Text(GAUGE_EMPTY * width, style="dim")
    share = used / capacity
    filled = min(width, round(width * share))
    if used > 0:
        filled = max(filled, 1)
    style = "bold red" if share > 1 else "yellow" if share >= 0.8 else "green"
    text = Text()
    text.append(GAUGE_FILLED * filled, style=style)
    text.append(GAUGE_EMPTY * (width - filled), style="dim")
    return text
