"""`EngineClient` over grpc.aio: the real engine, over mutual TLS with the operator's
credentials, checking the server is the engine (its certificate's DNS SAN `engine`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio

from miglane.grpctls import secure_channel
from miglane.pki import ENGINE_NAME, Credentials
from miglane.tui.client import EngineError
from miglane.v1 import common_pb2, engine_pb2, engine_pb2_grpc
from miglane.v1.rich_errors import error_details

PAGE_SIZE = 500
# A fresh engine comes back within a second or two; grpc's default backoff (up to 120 s)
# would keep the screen on "reconnecting" long after it has.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    # A channel dialled afresh after a failure must not inherit a shared subchannel's backoff.
    ("grpc.use_local_subchannel_pool", 1),
]


class GrpcEngineClient:
    """Calls the engine at `address` (host:port).

    The channel is made on first use, inside the running event loop (grpc.aio binds a
    channel to the loop that creates it). When a call finds the engine unreachable the channel
    is dropped and the next call dials afresh, so a restarted engine is found at once rather
    than after grpc's reconnect backoff.
    """

    def __init__(
        self, address: str, credentials: Credentials, call_timeout_s: float = 10.0
    ) -> None:
        self._address = address
        self._credentials = credentials
        self._call_timeout_s = call_timeout_s
        self._channel: grpc.aio.Channel | None = None
        self._stub: engine_pb2_grpc.EngineServiceStub | None = None
        # Closes of dropped channels still running: held so they are not garbage-collected
        # mid-way, and awaited by close().
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return self._address

    def _engine(self) -> tuple[engine_pb2_grpc.EngineServiceStub, grpc.aio.Channel]:
        if self._channel is None or self._stub is None:
            self._channel = secure_channel(
                self._address, self._credentials, server_name=ENGINE_NAME, options=CHANNEL_OPTIONS
            )
            self._stub = engine_pb2_grpc.EngineServiceStub(self._channel)
        return self._stub, self._channel

    def _error(self, error: grpc.aio.AioRpcError, channel: grpc.aio.Channel) -> EngineError:
        details = error_details(error.trailing_metadata())
        engine_error = EngineError(
            error.code().name,
            error.details() or "",
            self._address,
            reason=details.reason,
            metadata=details.metadata,
        )
        if engine_error.is_connection_problem and channel is self._channel:
            # Only the call that saw the current channel fail drops it: a late failure on an
            # older channel must not close the one another call just dialled.
            self._channel = None
            self._stub = None
            closing = asyncio.get_running_loop().create_task(channel.close(None))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return engine_error

    async def _unary(self, name: str, request: Any) -> Any:
        stub, channel = self._engine()
        method = getattr(stub, name)
        try:
            return await method(request, timeout=self._call_timeout_s)
        except grpc.aio.AioRpcError as error:
            raise self._error(error, channel) from None

    async def _pages(self, name: str, field: str, **filters: Any) -> list[Any]:
        request_type = getattr(engine_pb2, f"{name}Request")
        items: list[Any] = []
        token = ""
        while True:
            page = await self._unary(
                name, request_type(page_size=PAGE_SIZE, page_token=token, **filters)
            )
            items.extend(getattr(page, field))
            token = page.next_page_token
            if not token:
                return items

    async def list_clusters(self) -> list[engine_pb2.Cluster]:
        return await self._pages("ListClusters", "clusters")

    async def list_networks(self, cluster_id: str = "") -> list[engine_pb2.Network]:
        return await self._pages("ListNetworks", "networks", cluster_id=cluster_id)

    async def list_hosts(self, cluster_id: str = "") -> list[engine_pb2.Host]:
        return await self._pages("ListHosts", "hosts", cluster_id=cluster_id)

    async def list_vms(self, cluster_id: str = "") -> list[engine_pb2.Vm]:
        return await self._pages("ListVms", "vms", cluster_id=cluster_id)

    async def list_events(self, after_sequence: int = 0) -> list[engine_pb2.Event]:
        return await self._pages("ListEvents", "events", after_sequence=after_sequence)

    async def set_network_role(
        self, network_id: str, role: common_pb2.NetworkRole
    ) -> engine_pb2.SetNetworkRoleResponse:
        request = engine_pb2.SetNetworkRoleRequest(network_id=network_id, role=role)
        response: engine_pb2.SetNetworkRoleResponse = await self._unary("SetNetworkRole", request)
        return response

    async def unset_network_role(
        self, network_id: str, role: common_pb2.NetworkRole
    ) -> engine_pb2.Network:
        request = engine_pb2.UnsetNetworkRoleRequest(network_id=network_id, role=role)
        response = await self._unary("UnsetNetworkRole", request)
        network: engine_pb2.Network = response.network
        return network

    async def migrate_vm(
        self,
        vm_id: str,
        destination_host_id: str = "",
        max_bandwidth_mibps: int | None = None,
    ) -> engine_pb2.Migration:
        request = engine_pb2.MigrateVmRequest(vm_id=vm_id, destination_host_id=destination_host_id)
        if max_bandwidth_mibps is not None:
            request.max_bandwidth_mib_per_second = max_bandwidth_mibps
        response = await self._unary("MigrateVm", request)
        migration: engine_pb2.Migration = response.migration
        return migration

    async def list_migration_candidates(self, vm_id: str) -> list[engine_pb2.MigrationCandidate]:
        return await self._pages("ListMigrationCandidates", "candidates", vm_id=vm_id)

    async def cancel_migration(self, migration_id: str) -> engine_pb2.Migration:
        request = engine_pb2.CancelMigrationRequest(migration_id=migration_id)
        response = await self._unary("CancelMigration", request)
        migration: engine_pb2.Migration = response.migration
        return migration

    async def set_migration_bandwidth(
        self, migration_id: str, max_bandwidth_mibps: int
    ) -> engine_pb2.Migration:
        request = engine_pb2.SetMigrationBandwidthRequest(
            migration_id=migration_id, max_bandwidth_mib_per_second=max_bandwidth_mibps
        )
        response = await self._unary("SetMigrationBandwidth", request)
        migration: engine_pb2.Migration = response.migration
        return migration

    async def set_vm_migration_priority(self, vm_id: str, priority: int) -> engine_pb2.Vm:
        request = engine_pb2.SetVmMigrationPriorityRequest(vm_id=vm_id)
        request.priority = priority  # type: ignore[assignment]  # the enum's number
        response = await self._unary("SetVmMigrationPriority", request)
        vm: engine_pb2.Vm = response.vm
        return vm

    async def set_host_maintenance(
        self, host_id: str, enabled: bool
    ) -> engine_pb2.SetHostMaintenanceResponse:
        request = engine_pb2.SetHostMaintenanceRequest(host_id=host_id, enabled=enabled)
        response: engine_pb2.SetHostMaintenanceResponse = await self._unary(
            "SetHostMaintenance", request
        )
        return response

    async def _stream(self, name: str, request: Any) -> AsyncIterator[Any]:
        stub, channel = self._engine()
        call = getattr(stub, name)(request)
        try:
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as error:
            raise self._error(error, channel) from None
        finally:
            call.cancel()
        raise EngineError("UNAVAILABLE", f"the engine ended the {name} stream", self._address)

    async def watch_migrations(
        self, include_finished: bool = True
    ) -> AsyncIterator[engine_pb2.WatchMigrationsResponse]:
        request = engine_pb2.WatchMigrationsRequest(include_finished=include_finished)
        async for response in self._stream("WatchMigrations", request):
            yield response

    async def watch_events(self, after_sequence: int = 0) -> AsyncIterator[engine_pb2.Event]:
        request = engine_pb2.WatchEventsRequest(after_sequence=after_sequence)
        async for response in self._stream("WatchEvents", request):
            yield response.event

    async def close(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close(None)
        await asyncio.gather(*self._closing)
