"""What the TUI needs from the engine: a small async interface, and the error it raises.

The TUI talks to the engine only through `EngineClient`. Calls return the engine's own protobuf
messages (`miglane.v1.engine_pb2`) unchanged: they already are the view models the operator
reads (a `Migration` has every figure the Migrations view shows), and a second set of
dataclasses would only have to be kept in step with the .proto. Formatting for the screen is in
`miglane.tui.format`.

Every failure is an `EngineError` carrying the gRPC status name and the engine's sentence, so
that the TUI can show a refusal with its reason and tell "the engine is gone" (reconnect) from
"the engine said no" (show it).

The implementation is `miglane.tui.grpc_client.GrpcEngineClient` (the engine over grpc.aio);
the tests use it too, against a real engine in-process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from miglane.v1 import common_pb2, engine_pb2

# Status names that mean "no answer from the engine": the TUI shows "reconnecting" and retries.
CONNECTION_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"})


class EngineError(Exception):
    """A call the engine refused or could not answer.

    `code` is the gRPC status name ("FAILED_PRECONDITION", "UNAVAILABLE", ...), `detail` the
    engine's own sentence, shown to the operator as is; `reason` and `metadata` the engine's
    `ErrorInfo` ("" and empty when it gave none), e.g. CONSUMER_TOO_SLOW with "resume_after".
    """

    def __init__(
        self,
        code: str,
        detail: str,
        address: str = "",
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.code = code
        self.detail = detail
        self.address = address
        self.reason = reason
        self.metadata: Mapping[str, str] = dict(metadata or {})
        super().__init__(self.describe())

    @property
    def is_connection_problem(self) -> bool:
        return self.code in CONNECTION_CODES

    def describe(self) -> str:
        """One line for the operator."""
        if self.is_connection_problem:
            where = f" at {self.address}" if self.address else ""
            return f"cannot reach the engine{where}: {self.detail}"
        return f"{self.code}: {self.detail}"


class EngineClient(Protocol):
    """The engine calls and streams the TUI uses.

    Lists return every page. Streams are async iterators that end only by raising
    `EngineError` (a stream the engine closes raises one with code UNAVAILABLE), so that a
    consumer has one way to learn it must resubscribe.
    """

    @property
    def address(self) -> str:
        """Where the engine is, for the screen ("127.0.0.1:50051")."""
        ...

    async def list_clusters(self) -> list[engine_pb2.Cluster]: ...

    async def list_networks(self, cluster_id: str = "") -> list[engine_pb2.Network]: ...

    async def list_hosts(self, cluster_id: str = "") -> list[engine_pb2.Host]: ...

    async def list_vms(self, cluster_id: str = "") -> list[engine_pb2.Vm]: ...

    async def list_events(self, after_sequence: int = 0) -> list[engine_pb2.Event]: ...

    async def set_network_role(
        self, network_id: str, role: common_pb2.NetworkRole
    ) -> engine_pb2.SetNetworkRoleResponse: ...

    async def unset_network_role(
        self, network_id: str, role: common_pb2.NetworkRole
    ) -> engine_pb2.Network: ...

    async def migrate_vm(
        self,
        vm_id: str,
        destination_host_id: str = "",
        max_bandwidth_mibps: int | None = None,
    ) -> engine_pb2.Migration: ...

    async def list_migration_candidates(
        self, vm_id: str
    ) -> list[engine_pb2.MigrationCandidate]: ...

    async def cancel_migration(self, migration_id: str) -> engine_pb2.Migration: ...

    async def set_migration_bandwidth(
        self, migration_id: str, max_bandwidth_mibps: int
    ) -> engine_pb2.Migration: ...

    async def set_host_maintenance(
        self, host_id: str, enabled: bool
    ) -> engine_pb2.SetHostMaintenanceResponse: ...

    async def set_vm_migration_priority(self, vm_id: str, priority: int) -> engine_pb2.Vm: ...

    def watch_migrations(
        self, include_finished: bool = True
    ) -> AsyncIterator[engine_pb2.WatchMigrationsResponse]:
        """The current migrations, then a `snapshot_complete` marker, then every change."""
        ...

    def watch_events(self, after_sequence: int = 0) -> AsyncIterator[engine_pb2.Event]:
        """Events after `after_sequence` (0: only new ones), then each new event."""
        ...

    async def close(self) -> None: ...
