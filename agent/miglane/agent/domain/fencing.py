"""Engine-term fencing, the agent's rule: a call carrying a lower term than the highest this
agent has seen comes from a deposed leader and is refused; a higher one is remembered. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TermVerdict:
    # Whether the call may go on.
    admitted: bool
    # The highest term seen after this call (to remember; persist when it grew).
    highest: int


def judge_engine_term(highest: int, offered: int | None) -> TermVerdict:
    """The verdict on a call offering term `offered` (None: the call carries no term, as from a
    tool or an engine predating fencing; it is let through and changes nothing)."""
    if offered is None:
        return TermVerdict(True, highest)
    if offered < highest:
        return TermVerdict(False, highest)
    return TermVerdict(True, offered)


def stale_term_message(offered: int, highest: int) -> str:
    return (
        f"stale engine term {offered}: this agent obeys term {highest} or later (a newer "
        "leader took over; this engine no longer leads)"
    )
