"""Migration progress as a value that users can trust (after vdsm's `Progress`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """Percent of a job: computed from remaining/total data, never lower than before, and
    held at 99 until the job is done (the last 1% is the switch-over, which has no figures)."""

    percent: int = 0

    def observe(self, data_remaining: int, data_total: int) -> Progress:
        if data_total <= 0:
            return self
        remaining = min(max(data_remaining, 0), data_total)
        measured = 100 - (100 * remaining) // data_total
        return Progress(max(self.percent, min(measured, 99)))

    def done(self) -> Progress:
        return Progress(100)


def eta_seconds(data_remaining: int, throughput_bps: int, dirty_rate_bps: int) -> int:
    """Seconds until the remaining data is sent at the net rate; 0 when it cannot be told."""
    net = throughput_bps - dirty_rate_bps
    if data_remaining <= 0 or net <= 0:
        return 0
    return -(-data_remaining // net)
