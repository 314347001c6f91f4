"""The interceptor that keeps EngineService to the leader: on an engine that does not lead (a
follower, a leader whose lease lapsed, or one still taking charge) every EngineService call ends
with UNAVAILABLE, ErrorInfo NOT_LEADER naming the leader's address, so a client asks that engine
instead. Reads are refused too, not only changes: live progress, watches and host reports exist
only in the leader's memory, and a follower's answer would be stale. Health and reflection stay
open."""

from __future__ import annotations

from contextvars import Token
from typing import Protocol

import grpc

from miglane.engine.domain.errors import NotLeader
from miglane.engine.grpc_api.errors import rich_status
from miglane.grpctls import ServiceGate


class Leads(Protocol):
    @property
    def serving(self) -> bool: ...

    @property
    def leader_address(self) -> str: ...


class LeaderGate(ServiceGate):
    def __init__(self, leadership: Leads, service: str) -> None:
        super().__init__(service)
        self._leadership = leadership

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> Token[str] | None:
        if not self._leadership.serving:
            status = rich_status(NotLeader(self._leadership.leader_address))
            await context.abort(status.code, status.details, status.trailing_metadata)
        return None
