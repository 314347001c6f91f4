"""Helpers for the engine tests: a real engine in-process (its hosts not polled), and records
written through the store (in production, VMs come from agent polls and migrations from the
queue; here the tests insert them)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from migration_writers import record_migration

from miglane.engine.domain.model import Migration, MigrationPhase, Vm, VmState
from miglane.engine.inventory import Inventory
from miglane.pki import Credentials
from miglane.testing.engine_stack import start_engine
from miglane.testing.identities import admin_credentials, engine_channel
from miglane.v1 import engine_pb2_grpc

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> datetime:
        return T0 + timedelta(seconds=next(self._ticks))


@dataclass
class Engine:
    inventory: Inventory
    server: grpc.aio.Server
    port: int
    channel: grpc.aio.Channel
    stub: engine_pb2_grpc.EngineServiceStub
    # The admin identity `channel` uses.
    credentials: Credentials

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def new_channel(self, options: Sequence[tuple[str, Any]] = ()) -> grpc.aio.Channel:
        """Another connection to the engine, as the same admin."""
        return engine_channel(self.address, self.credentials, options=options)


@asynccontextmanager
async def running_engine(state_dir: Path, *, queue_size: int = 1024) -> AsyncIterator[Engine]:
    built = await start_engine(state_dir, event_queue_size=queue_size, poll_hosts=False)
    credentials = admin_credentials(built.authority)
    channel = engine_channel(built.address, credentials)
    try:
        yield Engine(
            built.inventory,
            built.server,
            built.port,
            channel,
            engine_pb2_grpc.EngineServiceStub(channel),
            credentials,
        )
    finally:
        await channel.close()
        await built.stop(1)


_ids = itertools.count(1)


async def insert_vm(inventory: Inventory, host_id: str, cluster_id: str, name: str = "") -> Vm:
    number = next(_ids)
    vm = Vm(
        id=f"00000000-0000-0000-0000-{number:012d}",
        name=name or f"vm{number}",
        host_id=host_id,
        cluster_id=cluster_id,
        state=VmState.RUNNING,
        memory_mib=1024,
    )

    def work(store):  # type: ignore[no-untyped-def]
        store.replace_host_vms(host_id, [*store.vms_of_host(host_id), vm])
        return vm, []

    return await inventory.worker.transact(work)


async def insert_migration(
    inventory: Inventory,
    vm: Vm,
    *,
    phase: MigrationPhase = MigrationPhase.RUNNING,
    destination_host_id: str = "",
) -> Migration:
    migration = Migration(
        id=f"mig-test{next(_ids)}",
        cluster_id=vm.cluster_id,
        vm_id=vm.id,
        vm_name=vm.name,
        source_host_id=vm.host_id,
        destination_host_id=destination_host_id,
        phase=phase,
        created_at=T0,
    )
    return await record_migration(inventory.worker, migration)
