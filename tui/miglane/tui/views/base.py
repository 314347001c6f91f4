"""What every view shares: the App's state and the operator's workflows, as a `ViewContext`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual.actions import parse
from textual.binding import Binding
from textual.containers import Vertical

if TYPE_CHECKING:
    from miglane.tui.context import ViewContext


class View(Vertical):
    """A tab's content. The App calls `refresh_view()` when the inventory changed."""

    @property
    def context(self) -> ViewContext:
        return cast("ViewContext", self.app)

    _binding_state: tuple[bool | None, ...] | None = None

    def refresh_view(self) -> None:
        raise NotImplementedError

    def update_bindings(self) -> None:
        """Redraws the footer only when one of this view's actions became (un)available:
        redrawing it is far dearer than asking."""
        state = tuple(
            self.check_action(*_action_of(binding))
            for binding in self.BINDINGS
            if isinstance(binding, Binding)
        )
        if state != self._binding_state and self.is_attached:
            self._binding_state = state
            self.refresh_bindings()

    def focus_table(self) -> None:
        """Gives the keyboard to the view's main table (so its bindings are in the footer)."""


def _action_of(binding: Binding) -> tuple[str, tuple[Any, ...]]:
    _, name, parameters = parse(binding.action)
    return name, parameters
