"""The one place where domain errors become gRPC status codes."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

from miglane.engine.domain.errors import (
    AlreadyExists,
    ConsumerTooSlow,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    NotImplementedYet,
    ResourceExhausted,
)

log = logging.getLogger(__name__)

# Most specific first.
STATUS_CODES: tuple[tuple[type[DomainError], grpc.StatusCode], ...] = (
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (NotImplementedYet, grpc.StatusCode.UNIMPLEMENTED),
)

# Trailing metadata key of a dropped event stream: the sequence to resume after.
RESUME_AFTER_KEY = "miglane-resume-after"


def status_code(error: DomainError) -> grpc.StatusCode:
    for kind, code in STATUS_CODES:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.UNKNOWN


def _failure(method: str, error: Exception) -> tuple[grpc.StatusCode, str, tuple[Any, ...]]:
    if isinstance(error, DomainError):
        trailers: tuple[Any, ...] = ()
        if isinstance(error, ConsumerTooSlow):
            trailers = ((RESUME_AFTER_KEY, str(error.resume_after)),)
        return status_code(error), error.message, trailers
    log.exception("%s failed", method)
    return (
        grpc.StatusCode.INTERNAL,
        f"internal error in {method} ({type(error).__name__}); the engine log has the details",
        (),
    )


F = TypeVar("F", bound=Callable[..., Any])


def map_domain_errors(method: F) -> F:
    """Wraps a servicer method (coroutine or async generator): a DomainError ends the RPC with
    its status code and message; anything else with INTERNAL (and a logged traceback)."""
    name = method.__name__

    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
            try:
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
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            code, message, trailers = _failure(name, error)
        await context.abort(code, message, trailers)

    return unary  # type: ignore[return-value]
