"""The one place where the agent's refusals become gRPC status codes."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

from miglane.agent.domain import errors

log = logging.getLogger(__name__)

STATUS_OF_ERROR: dict[type[errors.AgentError], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
    errors.LimitReached: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unsupported: grpc.StatusCode.UNIMPLEMENTED,
}

F = TypeVar("F", bound=Callable[..., Any])


def status_of(error: errors.AgentError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_OF_ERROR:
            return STATUS_OF_ERROR[cls]
    return grpc.StatusCode.INTERNAL


def handle_agent_errors(method: F) -> F:
    """Aborts the RPC with the mapped status when the agent refuses; works for unary methods
    and for server-streaming async generators."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
            try:
                async for item in method(self, request, context):
                    yield item
            except errors.AgentError as e:
                await context.abort(status_of(e), str(e))

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except errors.AgentError as e:
            await context.abort(status_of(e), str(e))

    return unary  # type: ignore[return-value]
