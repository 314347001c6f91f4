"""AgentService over an injected `Agent`: convert, call, convert."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from miglane.agent.grpc_api import converters as cv
from miglane.agent.grpc_api.errors import handle_agent_errors
from miglane.agent.service import Agent
from miglane.v1 import agent_pb2, agent_pb2_grpc

Ctx = grpc.aio.ServicerContext


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    @handle_agent_errors
    async def GetCapabilities(self, request: agent_pb2.GetCapabilitiesRequest, context: Ctx):  # type: ignore[override]
        return cv.capabilities_to_pb(await self.agent.capabilities())

    @handle_agent_errors
    async def ListVms(self, request: agent_pb2.AgentServiceListVmsRequest, context: Ctx):  # type: ignore[override]
        vms = await self.agent.list_vms()
        return agent_pb2.AgentServiceListVmsResponse(vms=[cv.vm_to_pb(v) for v in vms])

    @handle_agent_errors
    async def Migrate(self, request: agent_pb2.MigrateRequest, context: Ctx):  # type: ignore[override]
        status = await self.agent.migrate(cv.migrate_request_from_pb(request))
        return agent_pb2.MigrateResponse(progress=cv.progress_to_pb(status))

    @handle_agent_errors
    async def MigrateCancel(self, request: agent_pb2.MigrateCancelRequest, context: Ctx):  # type: ignore[override]
        status = await self.agent.cancel(request.migration_id)
        return agent_pb2.MigrateCancelResponse(progress=cv.progress_to_pb(status))

    @handle_agent_errors
    async def MigrateChangeParams(
        self, request: agent_pb2.MigrateChangeParamsRequest, context: Ctx
    ):  # type: ignore[override]
        status = await self.agent.change_params(cv.change_from_pb(request))
        return agent_pb2.MigrateChangeParamsResponse(progress=cv.progress_to_pb(status))

    @handle_agent_errors
    async def GetMigrationStatus(self, request: agent_pb2.GetMigrationStatusRequest, context: Ctx):  # type: ignore[override]
        status = await self.agent.status(request.migration_id)
        return agent_pb2.GetMigrationStatusResponse(progress=cv.progress_to_pb(status))

    @handle_agent_errors
    async def ListMigrationJobs(self, request: agent_pb2.ListMigrationJobsRequest, context: Ctx):  # type: ignore[override]
        jobs = await self.agent.list_jobs(request.include_finished)
        return agent_pb2.ListMigrationJobsResponse(jobs=[cv.progress_to_pb(j) for j in jobs])

    @handle_agent_errors
    async def WatchMigrationProgress(  # type: ignore[override]
        self, request: agent_pb2.WatchMigrationProgressRequest, context: Ctx
    ) -> AsyncIterator[agent_pb2.WatchMigrationProgressResponse]:
        async for status in self.agent.watch(request.migration_id):
            yield agent_pb2.WatchMigrationProgressResponse(progress=cv.progress_to_pb(status))

    @handle_agent_errors
    async def Restore(self, request: agent_pb2.RestoreRequest, context: Ctx):  # type: ignore[override]
        vm = await self.agent.restore(request.path)
        return agent_pb2.RestoreResponse(vm=cv.vm_to_pb(vm))
