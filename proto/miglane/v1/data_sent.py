"""What a migration's data counters mean, in one sentence every client shows the same way.

QEMU counts the bytes it has sent (`data_processed_bytes`), the bytes it still has to send
(`data_remaining_bytes`) and the guest's memory (`data_total_bytes`), disks included when it
copies local disks (the `disk_*` part). Pages the guest writes again after they were sent are
sent again, so the bytes sent can exceed the memory: the sentence says so instead of printing
"234 MiB of 192 MiB".
"""

from __future__ import annotations

from typing import Protocol

MIB = 1024 * 1024
GIB = 1024 * MIB


class DataCounters(Protocol):
    """The fields of `miglane.engine.v1.Migration` (or the agent's progress) it reads."""

    data_total_bytes: int
    data_processed_bytes: int
    data_remaining_bytes: int
    disk_total_bytes: int
    disk_processed_bytes: int
    disk_remaining_bytes: int


def size(n_bytes: int) -> str:
    if n_bytes >= GIB:
        return f"{n_bytes / GIB:.1f} GiB"
    return f"{n_bytes / MIB:.1f} MiB"


def resent_bytes(counters: DataCounters) -> int:
    """Memory sent more than once so far: sent + still to send - the memory itself."""
    memory = counters.data_total_bytes - counters.disk_total_bytes
    sent = counters.data_processed_bytes - counters.disk_processed_bytes
    left = counters.data_remaining_bytes - counters.disk_remaining_bytes
    return max(0, sent + left - memory)


def memory_sent_sentence(counters: DataCounters) -> str:
    """E.g. "Sent 234.0 MiB for 192.4 MiB of guest memory (41.6 MiB of dirty pages sent
    again)"; empty before QEMU has counted anything."""
    memory = counters.data_total_bytes - counters.disk_total_bytes
    if memory <= 0:
        return ""
    sent = counters.data_processed_bytes - counters.disk_processed_bytes
    left = counters.data_remaining_bytes - counters.disk_remaining_bytes
    sentence = f"Sent {size(sent)} for {size(memory)} of guest memory"
    if left > 0:
        sentence += f", {size(left)} to go"
    again = resent_bytes(counters)
    if again > 0:
        sentence += f" ({size(again)} of dirty pages sent again)"
    return sentence
