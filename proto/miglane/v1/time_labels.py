"""How long until a predicted moment, and what an evacuating host shows: one wording for every
client (the CLI, the TUI), so that they never disagree on "in 2m10s" or "due"."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp


def duration_text(seconds: int) -> str:
    """A positive number of seconds as "9s", "2m10s" or "1h05m"."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def time_left(ends: datetime, now: datetime | None = None) -> str:
    """The time until `ends`: "in 9s", "in 2m10s", "in 1h05m"; "due" once it has passed."""
    left = math.ceil((ends - (now or datetime.now(UTC))).total_seconds())
    return f"in {duration_text(left)}" if left > 0 else "due"


class EvacuatingHost(Protocol):
    """The fields of `miglane.engine.v1.Host` an evacuation summary reads."""

    evacuation_vms_left: int
    evacuation_finish_at: Timestamp

    def HasField(self, field_name: str) -> bool: ...


def evacuation_summary(host: EvacuatingHost, now: datetime | None = None) -> str:
    """ "evacuating · 7 VMs left · finish ≈ 14:32 (in 3m10s)" (UTC); the caller knows the host
    is preparing for maintenance."""
    left = host.evacuation_vms_left
    words = f"evacuating · {left} VM{'' if left == 1 else 's'} left"
    if host.HasField("evacuation_finish_at"):
        ends = host.evacuation_finish_at.ToDatetime(tzinfo=UTC)
        words += f" · finish ≈ {ends:%H:%M} ({time_left(ends, now)})"
    return words
