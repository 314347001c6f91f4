"""The interceptor that keeps EngineService to the leader: on an engine that does not lead (a
follower, a leader whose lease lapsed, or one still taking charge) every EngineService call ends
with UNAVAILABLE, ErrorInfo NOT_LEADER naming the leader's address, so a client asks that engine
instead. Reads are refused too, not only changes: live progress, watches and host reports exist
only in the leader's memory, and a follower's answer would be stale. Health and reflection stay
open."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import Token
from typing import Protocol

import grpc

from miglane.engine.domain.errors import NotLeader
from miglane.engine.grpc_api.errors import rich_status
from miglane.grpctls import guarded, rpc_name


class Leads(Protocol):
    @property
    def serving(self) -> bool: ...

    @property
    def leader_address(self) -> str: ...


class LeaderGate(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, leadership: Leads, service: str) -> None:
        self._leadership = leadership
        self._service = service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if handler is None or rpc_name(method)[0] != self._service:
            return handler
        return guarded(handler, method, self._admit)

    async def _admit(self, method: str, context: grpc.aio.ServicerContext) -> Token[str] | None:
        if not self._leadership.serving:
            status = rich_status(NotLeader(self._leadership.leader_address))
            await context.abort(status.code, status.details, status.trailing_metadata)
        return None
