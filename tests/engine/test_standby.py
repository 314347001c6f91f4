"""A follower's standby: each pass prepares channels to the agents of the hosts the store has
then (hosts the leader added or removed meanwhile followed), reading only; a failed pass does
not end it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import pytest

from miglane.engine.standby import Standby
from miglane.engine.store import Store
from miglane.engine.unit_of_work import StoreWorker
from miglane.testing.builders import cluster, host

T = TypeVar("T")


class Clients:
    def __init__(self) -> None:
        self.prepared: list[Mapping[str, str]] = []

    async def prepare(self, agents: Mapping[str, str]) -> None:
        self.prepared.append(dict(agents))


class FailingOnce:
    """The store's reads, the first one failing (the database gone for a moment)."""

    def __init__(self, worker: StoreWorker) -> None:
        self.worker = worker
        self.failed = False

    async def read(self, work: Callable[[Store], T]) -> T:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the database is gone for a moment")
        return await self.worker.read(work)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path)
    with store.transaction():
        store.insert_cluster(cluster())
        for index in (1, 2):
            store.insert_host(host(index).host)
    yield store


async def test_each_pass_prepares_the_agents_of_the_hosts_the_store_has(store: Store) -> None:
    worker = StoreWorker(store, publish=lambda events: None)
    clients = Clients()
    standby = Standby(worker, clients)  # type: ignore[arg-type]
    await standby.prepare()
    assert clients.prepared == [{host(i).host.agent_address: f"host{i}" for i in (1, 2)}]
    with store.transaction():
        store.delete_host(host(1).host.id)
        store.insert_host(host(3).host)
    await standby.prepare()
    assert clients.prepared[-1] == {host(i).host.agent_address: f"host{i}" for i in (2, 3)}
    await worker.close()


async def test_a_failed_pass_is_followed_by_the_next(store: Store) -> None:
    worker = StoreWorker(store, publish=lambda events: None)
    clients = Clients()
    standby = Standby(FailingOnce(worker), clients, every_s=0.01)  # type: ignore[arg-type]
    running = asyncio.get_running_loop().create_task(standby.run())
    try:
        async with asyncio.timeout(10):
            while not clients.prepared:
                await asyncio.sleep(0.01)
    finally:
        running.cancel()
    assert standby.prepared >= 1
    await worker.close()
