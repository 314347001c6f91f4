"""The one place where domain errors become gRPC statuses: a status code per error class, and
`google.rpc` details a client branches on (`ErrorInfo` with the error's reason and metadata;
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

from miglane.engine.domain.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from miglane.v1.request_ranges import integer_range_problem

log = logging.getLogger(__name__)

# Most specific first.
STATUS_CODES: tuple[tuple[type[DomainError], grpc.StatusCode], ...] = (
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
)

# ErrorInfo.domain of every error the engine answers with.
ERROR_DOMAIN = "engine.miglane"


def status_code(error: DomainError) -> grpc.StatusCode:
    for kind, code in STATUS_CODES:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.UNKNOWN


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def rich_status(error: DomainError) -> grpc.Status:
    """The status a domain error ends its RPC with: code, sentence and details."""
    code = status_code(error)
    info = error_details_pb2.ErrorInfo(
        reason=str(error.reason), domain=ERROR_DOMAIN, metadata=error.metadata()
    )
    details = [_packed(info)]
    if isinstance(error, InvalidArgument):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.message
        )
        details.append(_packed(error_details_pb2.BadRequest(field_violations=[violation])))
    status = status_pb2.Status(
        code=getattr(code_pb2, code.name), message=error.message, details=details
    )
    return rpc_status.to_status(status)


def _failure(method: str, error: Exception) -> tuple[grpc.StatusCode, str, tuple[Any, ...]]:
    if isinstance(error, DomainError):
        status = rich_status(error)
        return status.code, status.details, tuple(status.trailing_metadata)
    log.exception("%s failed", method)
    return (
        grpc.StatusCode.INTERNAL,
        f"internal error in {method} ({type(error).__name__}); the engine log has the details",
        (),
    )


F = TypeVar("F", bound=Callable[..., Any])


def _check_ranges(request: Any) -> None:
    problem = integer_range_problem(request)
    if problem is not None:
        raise InvalidArgument(problem.field, problem.problem)


def map_domain_errors(method: F) -> F:
    """Wraps a servicer method (coroutine or async generator): a request with an integer out of
    range is refused before the method runs; a DomainError ends the RPC with its status code
    and message; anything else with INTERNAL (and a logged traceback)."""
    name = method.__name__

    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
            try:
                _check_ranges(request)
                # aclosing: a cancelled or abandoned stream closes the inner generator (and its
                # subscription) now, not whenever the garbage collector gets to it.
                async with contextlib.aclosing(method(self, request, context)) as items:
                    async for item in items:
                        yield item
                return
            except grpc.aio.AbortError:
                raise
            except Exception as error:
                code, message, trailers = _failure(name, error)
            await context.abort(code, message, trailers)

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: Any) -> Any:
        try:
            _check_ranges(request)
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            code, message, trailers = _failure(name, error)
        await context.abort(code, message, trailers)

    return unary  # type: ignore[return-value]
