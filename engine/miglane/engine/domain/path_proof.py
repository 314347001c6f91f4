"""Proof of path: did a migration's data leave its source host by the NIC of the network the
engine chose for it?

The source agent reads its NICs' byte counters when the job starts and reports, with every
sample and at the end, how many bytes each NIC sent since. Those counters hold all of a NIC's
traffic, so the rule tolerates background traffic and judges only what a misroute would change:

- the chosen NIC must have sent at least `CONFIRMED_SHARE` of the data the migration sent
  (the wire adds headers and TLS, compression may shrink it a little, so "at least 3/4");
- traffic on the other NICs never counts against it (management, storage and guests' traffic
  go on during a migration), it is only named when the data went elsewhere;
- below `MIN_JUDGED_BYTES` of data the migration is too small to tell from background traffic.

A migration whose chosen NIC sent less than that share left by another route (a route sending
the migration subnet out of the management NIC, say): OFF_PATH, which the engine flags.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping

from miglane.engine.domain.model import MIB, PathProof, PathVerdict

# The chosen NIC must have sent at least this share of the migration's data.
CONFIRMED_SHARE = 0.75
# Less data than this is not judged: a NIC's own background traffic could make up for it.
MIN_JUDGED_BYTES = 4 * MIB


def judge_path(
    nic: str, nic_tx_bytes: Mapping[str, int], data_bytes: int, memory_bytes: int
) -> PathProof:
    """The verdict on a migration that sent `data_bytes` while its source's NICs sent
    `nic_tx_bytes` (NIC name -> bytes since the job started); `nic`: the chosen network's NIC.
    No counters at all (an older agent, a hibernation): UNSPECIFIED."""
    if not nic_tx_bytes:
        return PathProof(nic=nic, data_bytes=data_bytes, memory_bytes=memory_bytes)
    sent = max(0, nic_tx_bytes.get(nic, 0)) if nic else 0
    others = sorted(
        ((name, max(0, count)) for name, count in nic_tx_bytes.items() if name != nic),
        key=lambda item: (-item[1], item[0]),
    )
    other_nic, other_sent = others[0] if others and others[0][1] > 0 else ("", 0)
    if data_bytes < MIN_JUDGED_BYTES:
        verdict = PathVerdict.TOO_LITTLE_DATA
    elif sent >= CONFIRMED_SHARE * data_bytes:
        verdict = PathVerdict.CONFIRMED
    else:
        verdict = PathVerdict.OFF_PATH
    return PathProof(verdict, nic, sent, data_bytes, memory_bytes, other_nic, other_sent)


def _mib(count: int) -> str:
    return f"{count / MIB:.0f} MiB"


def path_summary(proof: PathProof) -> str:
    """The line people read, e.g. "migration: 257 MiB over mig0 for 256 MiB of memory"; ""
    before anything was measured."""
    if proof.verdict is PathVerdict.UNSPECIFIED:
        return ""
    memory = f" for {_mib(proof.memory_bytes)} of memory" if proof.memory_bytes else ""
    line = f"migration: {_mib(proof.nic_tx_bytes)} over {proof.nic or '(no NIC)'}{memory}"
    if proof.verdict is PathVerdict.OFF_PATH:
        elsewhere = (
            f"; {_mib(proof.other_nic_tx_bytes)} left by {proof.other_nic}"
            if proof.other_nic
            else ""
        )
        return f"{line}: NOT the chosen path ({_mib(proof.data_bytes)} of data sent{elsewhere})"
    if proof.verdict is PathVerdict.TOO_LITTLE_DATA:
        return f"{line} (too little data to prove the path)"
    return line
