"""The one place where the agent's refusals become gRPC statuses: a status code per error
class, and `google.rpc` details a client branches on (`ErrorInfo` with the refusal's reason;
`BadRequest` naming the field at fault for INVALID_ARGUMENT). The message stays the sentence."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from miglane.agent.domain import errors
from miglane.v1.request_ranges import integer_range_problem

log = logging.getLogger(__name__)

# ErrorInfo.domain of every refusal the agent answers with.
ERROR_DOMAIN = "agent.miglane"

STATUS_OF_ERROR: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unsupported: grpc.StatusCode.UNIMPLEMENTED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}

F = TypeVar("F", bound=Callable[..., Any])


def status_code(error: errors.DomainError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_OF_ERROR:
            return STATUS_OF_ERROR[cls]
    return grpc.StatusCode.INTERNAL


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


# A refusal's sentence is cut there: a huge request field never echoes back whole (it would
# overflow the trailers and reach the client as a transport error instead of the refusal).
MESSAGE_MAX = 400


def _cut(message: str) -> str:
    return message if len(message) <= MESSAGE_MAX else message[: MESSAGE_MAX - 1] + "…"


def rich_status(error: errors.DomainError) -> grpc.Status:
    """The status a refusal ends its RPC with: code, sentence and details."""
    code = status_code(error)
    message = _cut(error.message)
    details = [_packed(error_details_pb2.ErrorInfo(reason=str(error.reason), domain=ERROR_DOMAIN))]
    if error.field:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=message
        )
        details.append(_packed(error_details_pb2.BadRequest(field_violations=[violation])))
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    return rpc_status.to_status(status)


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: errors.DomainError) -> None:
    status = rich_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)


def _check_ranges(request: Any) -> None:
    problem = integer_range_problem(request)
    if problem is not None:
        raise errors.InvalidArgument(f"{problem.field}: {problem.problem}", field=problem.field)


def map_domain_errors(method: F) -> F:
    """Wraps a servicer method (coroutine or async generator): a request with an integer out of
    range is refused before the method runs; a refusal ends the RPC with its rich status;
    anything else goes to grpc, which answers UNKNOWN."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
            try:
                _check_ranges(request)
                async with contextlib.aclosing(method(self, request, context)) as items:
                    async for item in items:
                        yield item
                return
            except errors.DomainError as e:
                refusal = e
            await _abort(context, refusal)

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: Any) -> Any:
        try:
            _check_ranges(request)
            return await method(self, request, context)
        except errors.DomainError as e:
            refusal = e
        await _abort(context, refusal)

    return unary  # type: ignore[return-value]
