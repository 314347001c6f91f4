"""The sentence every client shows for a migration's data counters."""

from __future__ import annotations

import pytest

from miglane.v1 import engine_pb2
from miglane.v1.data_sent import MIB, memory_sent_sentence, resent_bytes


@pytest.mark.parametrize(
    ("fields", "sentence", "resent"),
    [
        ({}, "", 0),
        (
            {"data_total_bytes": 192 * MIB, "data_processed_bytes": 64 * MIB,
             "data_remaining_bytes": 128 * MIB},
            "Sent 64.0 MiB for 192.0 MiB of guest memory, 128.0 MiB to go",
            0,
        ),
        (
            {"data_total_bytes": 192 * MIB, "data_processed_bytes": 234 * MIB},
            "Sent 234.0 MiB for 192.0 MiB of guest memory (42.0 MiB of dirty pages sent again)",
            42 * MIB,
        ),
        (
            {"data_total_bytes": 192 * MIB, "data_processed_bytes": 200 * MIB,
             "data_remaining_bytes": 10 * MIB},
            "Sent 200.0 MiB for 192.0 MiB of guest memory, 10.0 MiB to go "
            "(18.0 MiB of dirty pages sent again)",
            18 * MIB,
        ),
        # A local disk copy: the disk part is counted apart, the sentence is about memory.
        (
            {"data_total_bytes": 2048 * MIB + 256 * MIB, "data_processed_bytes": 2048 * MIB,
             "data_remaining_bytes": 256 * MIB, "disk_total_bytes": 2048 * MIB,
             "disk_processed_bytes": 2048 * MIB},
            "Sent 0.0 MiB for 256.0 MiB of guest memory, 256.0 MiB to go",
            0,
        ),
        (
            {"data_total_bytes": 4096 * MIB, "data_processed_bytes": 5120 * MIB},
            "Sent 5.0 GiB for 4.0 GiB of guest memory (1.0 GiB of dirty pages sent again)",
            1024 * MIB,
        ),
    ],
)  # fmt: skip
def test_sentence_says_what_was_sent_for_how_much_memory(
    fields: dict[str, int], sentence: str, resent: int
) -> None:
    migration = engine_pb2.Migration(**fields)
    assert memory_sent_sentence(migration) == sentence
    assert resent_bytes(migration) == resent
