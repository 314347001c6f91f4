"""Whether a guest's memory dirtying is bounded by a working set, from dirty rates measured over
a short and a long period, and how big that set is.

A guest that keeps rewriting the same W bytes dirties min(D·t, W) bytes in t seconds: measured
over a short and a long period, the bytes dirtied stop growing with the period once the set is
covered. A guest dirtying fresh memory all the time dirties D·t: long/short bytes = the ratio
of the periods. A migration round then resends at most W, however fast the guest writes.

The measurements are libvirt's page-sampling calculations: 512 sampled pages per GiB, each
standing for 2 MiB of guest memory, and the result an integer MiB/s. A working set of a few MiB
in a guest of a few hundred is a handful of sampled pages, so a pair of calculations is coarse
and the rule leaves wide margins (below). Pairs are not pooled over turns: a guest's first turn
often falls in its boot, while it fills its memory once, and would mask the set it keeps
rewriting afterwards for as many turns as were pooled.
"""

from __future__ import annotations

# Bounded when the bytes dirtied over the long period are below this fraction of what an
# unbounded guest would have dirtied then (the short period's rate times the long period).
# A bounded guest measures ~1/(long/short) of it (0.25 for 1 s and 4 s), an unbounded one ~1:
# 0.5 is their geometric middle for those periods, so sampling error must double or halve a
# count of sampled pages to flip the verdict. A wrong "bounded" would under-predict a migration
# (a wrong "unbounded" only keeps today's cautious over-prediction), which is why a guest needs
# the long period to show clearly less, not merely less.
BOUNDED_FRACTION = 0.5


def working_set_bytes(short_bps: int, long_bps: int, short_s: float, long_s: float) -> int:
    """The working set the guest keeps rewriting, in bytes, from a calculation over `short_s`
    (`short_bps`) and one right after over `long_s` (`long_bps`); 0 when its dirtying is not
    bounded by one the measurements can tell, or it dirtied nothing in the short period.

    Bounded: the long period's bytes < BOUNDED_FRACTION x the short period's rate x the long
    period. The set is then the larger of the bytes dirtied in the long and in the short period
    (at least what the guest dirtied in the short one: the long one's integer MiB/s rounds down
    by up to `long_s` MiB)."""
    short_bytes = short_bps * short_s
    long_bytes = long_bps * long_s
    if long_s <= short_s or short_bytes <= 0:
        return 0
    if long_bytes >= BOUNDED_FRACTION * short_bps * long_s:
        return 0
    return int(max(short_bytes, long_bytes))
