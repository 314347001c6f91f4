"""The servicer alone, under grpcio-testing's in-memory server.

grpc_testing drives servicers synchronously, from its own threads; ours is async. The bridge
below runs each RPC's coroutine (or async generator) on a loop thread and gives it an async
`abort` over grpc_testing's context — the servicer code under test is the production one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import grpc_testing
import pytest

from miglane.engine.app import Engine, build_engine
from miglane.engine.grpc_api.servicer import EngineServicer
from miglane.testing.engine_stack import quick_config
from miglane.v1 import engine_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["EngineService"]


class AsyncContext:
    def __init__(self, context: grpc.ServicerContext) -> None:
        self._context = context

    async def abort(self, code: grpc.StatusCode, details: str, trailing_metadata: Any = ()) -> None:
        if trailing_metadata:
            self._context.set_trailing_metadata(trailing_metadata)
        self._context.abort(code, details)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def sync_bridge(servicer: EngineServicer, loop: asyncio.AbstractEventLoop) -> SimpleNamespace:
    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)

    handlers: dict[str, Callable[..., Any]] = {}
    for method in SERVICE.methods:
        implementation = getattr(servicer, method.name)
        if method.server_streaming:

            def stream(request: Any, context: Any, impl: Any = implementation) -> Iterator[Any]:
                responses = impl(request, AsyncContext(context))
                while True:
                    try:
                        yield run(responses.__anext__())
                    except StopAsyncIteration:
                        return

            handlers[method.name] = stream
        else:
            handlers[method.name] = lambda request, context, impl=implementation: run(
                impl(request, AsyncContext(context))
            )
    return SimpleNamespace(**handlers)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join(5)
    running.close()


@pytest.fixture
def engine(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[Engine]:
    """The engine as `miglane engine` builds it, not started: its servicer is driven directly."""
    built = asyncio.run_coroutine_threadsafe(
        build_engine(quick_config(tmp_path / "state")), loop
    ).result(10)
    yield built
    asyncio.run_coroutine_threadsafe(built.stop(0), loop).result(10)


def make_server(servicer: EngineServicer, loop: asyncio.AbstractEventLoop) -> Any:
    return grpc_testing.server_from_dictionary(
        {SERVICE: sync_bridge(servicer, loop)}, grpc_testing.strict_real_time()
    )


def unary(server: Any, method: str, request: Any) -> tuple[Any, grpc.StatusCode, str]:
    rpc = server.invoke_unary_unary(SERVICE.methods_by_name[method], (), request, None)
    response, _, code, details = rpc.termination()
    return response, code, details


def test_create_then_get_cluster(engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
    server = make_server(engine.servicer, loop)
    created, code, _ = unary(server, "CreateCluster", pb.CreateClusterRequest(name="c1"))
    assert code == grpc.StatusCode.OK and created.cluster.id.startswith("cl-")
    got, code, _ = unary(server, "GetCluster", pb.GetClusterRequest(cluster_id=created.cluster.id))
    assert code == grpc.StatusCode.OK and got.cluster == created.cluster


INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("method", "request_", "code", "fragment"),
    [
        (
            "SetNetworkRole",
            pb.SetNetworkRoleRequest(network_id="n", role=99),
            INVALID,
            "role: 99 is not a NetworkRole value",
        ),
        (
            "GetNetwork",
            pb.GetNetworkRequest(network_id="net-nope"),
            NOT_FOUND,
            "network_id: no network with id 'net-nope'",
        ),
        (
            "AddHost",
            pb.AddHostRequest(cluster_id="c", name="h", agent_address="nope"),
            INVALID,
            "agent_address: 'nope' is not host:port",
        ),
        (
            "SetVmMigrationPriority",
            pb.SetVmMigrationPriorityRequest(vm_id="v", priority=99),
            INVALID,
            "priority: unknown priority 99; give one of high, normal, low",
        ),
        (
            "SetVmMigrationPriority",
            pb.SetVmMigrationPriorityRequest(vm_id="vm-nope", priority=pb.MIGRATION_PRIORITY_HIGH),
            NOT_FOUND,
            "vm_id: no VM with id 'vm-nope'",
        ),
        (
            "MigrateVm",
            pb.MigrateVmRequest(vm_id="v", priority=7),
            INVALID,
            "priority: unknown priority 7",
        ),
    ],
)
def test_errors_map_to_status_codes(
    engine: Engine,
    loop: asyncio.AbstractEventLoop,
    method: str,
    request_: Any,
    code: grpc.StatusCode,
    fragment: str,
) -> None:
    _, got_code, details = unary(make_server(engine.servicer, loop), method, request_)
    assert got_code == code and fragment in details


def test_unexpected_failures_are_internal_without_leaking(loop: asyncio.AbstractEventLoop) -> None:
    class BrokenClusters:
        async def get_cluster(self, cluster_id: str) -> None:
            raise RuntimeError("secret /var/lib path in a stack trace")

    class Broken:
        clusters = BrokenClusters()

    server = make_server(EngineServicer(Broken(), Broken()), loop)  # type: ignore[arg-type]
    _, code, details = unary(server, "GetCluster", pb.GetClusterRequest(cluster_id="c"))
    assert code == grpc.StatusCode.INTERNAL
    assert "internal error in GetCluster (RuntimeError)" in details and "secret" not in details


def test_watch_events_replays_then_ends_with_the_engine(
    engine: Engine, loop: asyncio.AbstractEventLoop
) -> None:
    inventory = engine.inventory
    server = make_server(engine.servicer, loop)
    for name in ("a", "b", "c"):
        unary(server, "CreateCluster", pb.CreateClusterRequest(name=name))
    rpc = server.invoke_unary_stream(
        SERVICE.methods_by_name["WatchEvents"], (), pb.WatchEventsRequest(after_sequence=1), None
    )
    assert [rpc.take_response().event.sequence for _ in range(2)] == [2, 3]
    loop.call_soon_threadsafe(inventory.audit.end_streams)
    _, code, _ = rpc.termination()
    assert code == grpc.StatusCode.OK
