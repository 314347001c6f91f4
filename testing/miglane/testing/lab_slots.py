"""Lab slots for test sessions and benchmarks: each claims a slot no one else holds.

A slot is held through a lock file under /tmp for as long as the claim lasts, so sessions and
benchmarks running side by side never share hosts; a slot whose bridges belong to a lab of
another base directory (an operator's own lab) is passed over.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from miglane.lab.network import bridge_owner
from miglane.lab.plan import Network, plan_lab

LAB_SLOTS = range(10, 40)
TEST_LAB_BASE_PREFIX = "/tmp/miglane-test-lab-"


def slot_lock_path(slot: int) -> Path:
    """The lock file that says who holds `slot`: the same for every claimant."""
    return Path(f"/tmp/miglane-test-lab-{slot}.lock")


@contextlib.contextmanager
def claim_lab_slot(base_prefix: str = TEST_LAB_BASE_PREFIX) -> Iterator[tuple[int, Path]]:
    """A lab slot no other session holds, with its base directory `<base_prefix><slot>`,
    until the block ends. Raises RuntimeError when every slot of LAB_SLOTS is taken."""
    for slot in LAB_SLOTS:
        base = Path(f"{base_prefix}{slot}")
        plan = plan_lab(slot, 0)
        owners = {bridge_owner(plan.bridge(network)) for network in Network}
        if not owners <= {None, str(base)}:
            continue  # another lab runs in this slot
        with slot_lock_path(slot).open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            yield slot, base
            return
    raise RuntimeError(f"no free lab slot in {LAB_SLOTS}")
