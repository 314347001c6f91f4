"""The two lines that tell the operator about the engine: is it there, what did it just say."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from miglane.tui.messages import Feed, FeedHealth, FeedState


class ConnectionBar(Static):
    """Connected, connecting, or reconnecting (with why)."""

    def __init__(self, address: str, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.address = address
        self.state = "connecting"

    def show_feeds(self, feeds: dict[Feed, FeedState]) -> None:
        lost = [(feed, s) for feed, s in feeds.items() if s.health is FeedHealth.LOST]
        text = Text()
        if lost:
            self.state = "reconnecting"
            text.append(f" ⟳ RECONNECTING to {self.address} ", style="bold")
            text.append(f"— {lost[0][1].detail}; retrying by itself")
        elif feeds[Feed.INVENTORY].health is not FeedHealth.LIVE:
            self.state = "connecting"
            text.append(f" … connecting to {self.address}")
        else:
            self.state = "connected"
            text.append(" ● ", style="bold green")
            text.append(f"connected to {self.address}")
        self.set_class(self.state == "reconnecting", "-lost")
        self.set_class(self.state == "connected", "-live")
        self.update(text)


class ActionLine(Static):
    """The outcome of the operator's last action, kept on screen until the next one."""

    def report(self, ok: bool, message: str) -> None:
        self.set_class(not ok, "-refused")
        self.set_class(ok, "-done")
        self.update(Text(("✓ " if ok else "✗ ") + message))
