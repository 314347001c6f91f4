"""The proof-of-path rule: which NIC counters confirm a migration's path, which flag it, and
how much background traffic it tolerates."""

from __future__ import annotations

import pytest

from miglane.engine.domain.model import MIB, PathProof, PathVerdict
from miglane.engine.domain.path_proof import (
    CONFIRMED_SHARE,
    MIN_JUDGED_BYTES,
    judge_path,
    path_summary,
)

DATA = 257 * MIB
MEMORY = 256 * MIB


@pytest.mark.parametrize(
    ("case", "counters", "data", "verdict", "other"),
    [
        ("all data over the chosen NIC", {"mig0": DATA + MIB, "mgmt0": 40_000}, DATA,
         PathVerdict.CONFIRMED, "mgmt0"),
        ("heavy management traffic beside it is tolerated",
         {"mig0": DATA, "mgmt0": 3 * DATA}, DATA, PathVerdict.CONFIRMED, "mgmt0"),
        ("exactly the confirming share", {"mig0": int(CONFIRMED_SHARE * DATA), "mgmt0": 0},
         DATA, PathVerdict.CONFIRMED, ""),
        ("compression: a little less on the wire than processed",
         {"mig0": int(0.9 * DATA)}, DATA, PathVerdict.CONFIRMED, ""),
        ("a route sends the data out of the management NIC",
         {"mig0": 12_000, "mgmt0": DATA + 2 * MIB}, DATA, PathVerdict.OFF_PATH, "mgmt0"),
        ("just under the share", {"mig0": int(CONFIRMED_SHARE * DATA) - 1, "mgmt0": DATA // 4},
         DATA, PathVerdict.OFF_PATH, "mgmt0"),
        ("the chosen NIC is not on the host any more", {"mgmt0": DATA}, DATA,
         PathVerdict.OFF_PATH, "mgmt0"),
        ("too little data to tell from background", {"mig0": 0, "mgmt0": MIB},
         MIN_JUDGED_BYTES - 1, PathVerdict.TOO_LITTLE_DATA, "mgmt0"),
        ("nothing measured (older agent, hibernation)", {}, DATA, PathVerdict.UNSPECIFIED, ""),
    ],
)  # fmt: skip
def test_judge_path(
    case: str, counters: dict[str, int], data: int, verdict: PathVerdict, other: str
) -> None:
    proof = judge_path("mig0", counters, data, MEMORY)
    assert proof.verdict is verdict, case
    assert proof.other_nic == other, case
    if counters:
        assert proof.nic_tx_bytes == counters.get("mig0", 0)


def test_other_nic_is_the_busiest_and_ties_go_by_name() -> None:
    proof = judge_path("mig0", {"mig0": 0, "eth1": 5 * MIB, "eth0": 5 * MIB, "lo": 1}, DATA, 0)
    assert (proof.other_nic, proof.other_nic_tx_bytes) == ("eth0", 5 * MIB)


def test_a_counter_going_back_counts_as_nothing_sent() -> None:
    assert judge_path("mig0", {"mig0": -5}, DATA, 0).nic_tx_bytes == 0


@pytest.mark.parametrize(
    ("proof", "summary"),
    [
        (PathProof(PathVerdict.CONFIRMED, "mig0", DATA, DATA, MEMORY),
         "migration: 257 MiB over mig0 for 256 MiB of memory"),
        (PathProof(PathVerdict.OFF_PATH, "mig0", 0, DATA, MEMORY, "mgmt0", DATA),
         "migration: 0 MiB over mig0 for 256 MiB of memory: NOT the chosen path (257 MiB of "
         "data sent; 257 MiB left by mgmt0)"),
        (PathProof(PathVerdict.TOO_LITTLE_DATA, "mig0", MIB, MIB, 0),
         "migration: 1 MiB over mig0 (too little data to prove the path)"),
        (PathProof(nic="mig0"), ""),
    ],
)  # fmt: skip
def test_path_summary(proof: PathProof, summary: str) -> None:
    assert path_summary(proof) == summary
