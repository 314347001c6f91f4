"""What every view shares: a way to reach the App's state and operations."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.containers import Vertical

if TYPE_CHECKING:
    from miglane.tui.app import MiglaneApp


class View(Vertical):
    """A tab's content. The App calls `refresh_view()` when the inventory changed."""

    @property
    def miglane(self) -> MiglaneApp:
        return cast("MiglaneApp", self.app)

    def refresh_view(self) -> None:
        raise NotImplementedError

    def focus_table(self) -> None:
        """Gives the keyboard to the view's main table (so its bindings are in the footer)."""
