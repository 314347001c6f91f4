"""Fixtures shared by every test suite: the real libvirt lab (`miglane.lab`), brought up once.

    def test_something(lab: Lab) -> None:            # 3 hosts, up for the whole session
        status = lab.status()
        ...

    def test_with_agents(lab_with_agents: LabStatus) -> None:   # plus one agent per host
        ...

Tests using these fixtures get the `lab` marker (deselect them with `-m "not lab"`). Without
root they skip; in CI (`CI=true`) a lab that cannot start fails them instead.

Each session claims a free lab slot (a lock under /tmp held until it ends), so sessions
running side by side, and an operator's own lab in slot 0, never touch each other's hosts.
Whatever a crashed session left in its slot is taken down before the lab comes up. Each slot's
base directory (/tmp/miglane-test-lab-N) keeps its cache (guest kernel, QEMU capabilities)
between sessions, so only the first session probes QEMU.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from lab_rules import lab_unavailable, mark_lab_tests

from miglane.testing.lab_slots import claim_lab_slot

if TYPE_CHECKING:
    from miglane.lab import Lab, LabStatus

TEST_LAB_HOSTS = 3
AGENT_PORT = 50061


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_lab_tests(items)


@contextlib.contextmanager
def running_lab(hosts: int) -> Iterator[Lab]:
    """A lab of its own, up for the duration of the block, then down."""
    if os.geteuid() != 0:
        lab_unavailable("the lab needs root (network namespaces, bridges, libvirtd)")
    from miglane.lab import Lab, LabError

    with claim_lab_slot() as (slot, base):
        lab = Lab(base, slot=slot)
        try:
            lab.down()  # whatever a crashed session left in this slot
            lab.up(hosts=hosts)
        except LabError as exc:
            with contextlib.suppress(LabError):
                lab.down()
            lab_unavailable(f"the lab could not start: {exc}")
        try:
            yield lab
        finally:
            lab.down()


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """A 3-host lab for the whole session (shared: leave no guest behind)."""
    with running_lab(TEST_LAB_HOSTS) as the_lab:
        yield the_lab


@pytest.fixture
def spare_lab() -> Iterator[Lab]:
    """A lab in a slot of its own, not yet up, for tests that bring labs up and down."""
    if os.geteuid() != 0:
        lab_unavailable("the lab needs root (network namespaces, bridges, libvirtd)")
    from miglane.lab import Lab

    with claim_lab_slot() as (slot, base):
        spare = Lab(base, slot=slot)
        spare.down()
        try:
            yield spare
        finally:
            spare.down()


@pytest.fixture(scope="session")
def lab_with_agents(lab: Lab) -> Iterator[LabStatus]:
    """The session lab with a Miglane agent on each host, at `<mgmt addr>:50061`."""
    status = lab.start_agents(AGENT_PORT)
    try:
        yield status
    finally:
        lab.stop_agents()
