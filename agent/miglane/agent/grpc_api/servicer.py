"""AgentService over an injected `Agent`: each RPC converts its request, calls the agent,
converts back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from miglane.agent.domain.validation import validate_migration_id
from miglane.agent.grpc_api import converters as conv
from miglane.agent.grpc_api.errors import map_domain_errors
from miglane.agent.host_watch import changes, watch_interval_s
from miglane.agent.service import Agent
from miglane.v1 import agent_pb2 as pb
from miglane.v1 import agent_pb2_grpc

Context = Any  # grpc.aio.ServicerContext, or grpc_testing's in servicer tests


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    @map_domain_errors
    async def GetCapabilities(
        self, request: pb.GetCapabilitiesRequest, context: Context
    ) -> pb.GetCapabilitiesResponse:
        return conv.capabilities_to_proto(await self.agent.capabilities())

    @map_domain_errors
    async def ListVms(self, request: pb.ListVmsRequest, context: Context) -> pb.ListVmsResponse:
        vms = await self.agent.list_vms()
        return pb.ListVmsResponse(vms=[conv.vm_to_proto(v) for v in vms])

    @map_domain_errors
    async def Migrate(self, request: pb.MigrateRequest, context: Context) -> pb.MigrateResponse:
        status = await self.agent.migrate(conv.migrate_request_from_proto(request))
        return pb.MigrateResponse(progress=conv.progress_to_proto(status))

    @map_domain_errors
    async def MigrateCancel(
        self, request: pb.MigrateCancelRequest, context: Context
    ) -> pb.MigrateCancelResponse:
        status = await self.agent.cancel(validate_migration_id(request.migration_id))
        return pb.MigrateCancelResponse(progress=conv.progress_to_proto(status))

    @map_domain_errors
    async def MigrateChangeParams(
        self, request: pb.MigrateChangeParamsRequest, context: Context
    ) -> pb.MigrateChangeParamsResponse:
        validate_migration_id(request.migration_id)
        status = await self.agent.change_params(conv.change_from_proto(request))
        return pb.MigrateChangeParamsResponse(progress=conv.progress_to_proto(status))

    @map_domain_errors
    async def GetMigrationStatus(
        self, request: pb.GetMigrationStatusRequest, context: Context
    ) -> pb.GetMigrationStatusResponse:
        status = await self.agent.status(validate_migration_id(request.migration_id))
        return pb.GetMigrationStatusResponse(progress=conv.progress_to_proto(status))

    @map_domain_errors
    async def ListMigrationJobs(
        self, request: pb.ListMigrationJobsRequest, context: Context
    ) -> pb.ListMigrationJobsResponse:
        jobs = await self.agent.list_jobs(request.include_finished)
        return pb.ListMigrationJobsResponse(jobs=[conv.progress_to_proto(j) for j in jobs])

    @map_domain_errors
    async def WatchMigrationProgress(
        self, request: pb.WatchMigrationProgressRequest, context: Context
    ) -> AsyncIterator[pb.WatchMigrationProgressResponse]:
        if request.migration_id:  # empty: every job
            validate_migration_id(request.migration_id)
        async for status in self.agent.watch(request.migration_id):
            yield pb.WatchMigrationProgressResponse(progress=conv.progress_to_proto(status))

    @map_domain_errors
    async def Restore(self, request: pb.RestoreRequest, context: Context) -> pb.RestoreResponse:
        vm = await self.agent.restore(request.path)
        return pb.RestoreResponse(vm=conv.vm_to_proto(vm))

    @map_domain_errors
    async def WatchHost(
        self, request: pb.WatchHostRequest, context: Context
    ) -> AsyncIterator[pb.WatchHostResponse]:
        async def snapshot() -> pb.WatchHostResponse:
            capabilities = conv.capabilities_to_proto(await self.agent.capabilities())
            vms = [conv.vm_to_proto(v) for v in await self.agent.list_vms()]
            return pb.WatchHostResponse(capabilities=capabilities, vms=vms)

        async for changed in changes(snapshot, watch_interval_s(request.interval_ms)):
            yield changed if changed is not None else pb.WatchHostResponse(unchanged=True)
