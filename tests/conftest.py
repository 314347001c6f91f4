"""Fixtures shared by every test suite: the real libvirt lab (`miglane.lab`), brought up once,
and the engine's two store backends (SQLite, PostgreSQL; see `store_backends`).

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
from lab_rules import in_ci, lab_unavailable, mark_lab_tests
from store_backends import (
    BOTH_STORE_BACKENDS,
    SQLITE,
    STORE_BACKENDS,
    DatabaseOf,
    postgres_databases,
    sqlite_databases,
)

from miglane.testing.lab_slots import claim_lab_slot

if TYPE_CHECKING:
    from miglane.lab import Lab, LabStatus
    from miglane.testing.postgres import PostgresServer

TEST_LAB_HOSTS = 3
AGENT_PORT = 50061


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_lab_tests(items)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `both_store_backends` run once per backend."""
    if metafunc.definition.get_closest_marker(BOTH_STORE_BACKENDS):
        metafunc.parametrize("store_backend", STORE_BACKENDS, indirect=True)


@pytest.fixture
def store_backend(request: pytest.FixtureRequest) -> str:
    """The store backend of this test: SQLite unless it is marked `both_store_backends`."""
    return str(getattr(request, "param", SQLITE))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the whole session (tests make databases on it)."""
    from miglane.testing.postgres import postgres_available, running_postgres

    if not postgres_available():
        reason = "Debian's PostgreSQL server is not installed (apt-get install postgresql)"
        if in_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    with running_postgres() as server:
        yield server


@pytest.fixture(autouse=True)
def database_of(request: pytest.FixtureRequest, store_backend: str) -> Iterator[DatabaseOf]:
    """The database URL of each state dir this test keeps engine state in (`quick_config` and
    `start_engine` follow it): the state dir's SQLite file, or a fresh PostgreSQL database per
    state dir, dropped after the test."""
    if store_backend == SQLITE:
        yield sqlite_databases
        return
    with postgres_databases(request.getfixturevalue("postgres_server")) as of:
        yield of


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
