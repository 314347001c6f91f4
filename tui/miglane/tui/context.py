"""What the views and the command palette may use of the App: state, workflows, navigation.

They depend on this protocol, never on the App itself, so the App can import them freely.
"""

from __future__ import annotations

from typing import Protocol

from miglane.tui.actions import OperatorActions, TuiState


class ViewContext(TuiState, Protocol):
    """The App as its views see it."""

    @property
    def actions(self) -> OperatorActions: ...

    def action_show_tab(self, tab: str) -> None: ...

    def action_refresh(self) -> None: ...
