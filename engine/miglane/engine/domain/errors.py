"""Domain errors: what went wrong, in words an operator can act on.

The gRPC layer maps each class to one status code (`miglane.engine.grpc_api.errors`); nothing
here knows about gRPC.
"""

from __future__ import annotations

_SHOWN_MAX = 48


def shown(value: str) -> str:
    """A client-supplied string as it appears in messages: quoted, and cut when huge."""
    if len(value) > _SHOWN_MAX:
        return repr(value[:_SHOWN_MAX]) + f"… ({len(value)} characters)"
    return repr(value)


class DomainError(Exception):
    """Base of every error the engine reports to clients."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """A field is malformed, whatever the engine's state."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(DomainError):
    """An id names nothing."""

    def __init__(self, field: str, kind: str, ident: str) -> None:
        super().__init__(f"{field}: no {kind} with id {shown(ident)}")
        self.field = field


class AlreadyExists(DomainError):
    """A name or address is already taken."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class FailedPrecondition(DomainError):
    """The request is well formed, but the engine's state refuses it now."""


class ResourceExhausted(DomainError):
    """A limit is reached; retrying later may work."""


class ConsumerTooSlow(ResourceExhausted):
    """A stream's client fell so far behind that the engine stopped buffering for it."""

    def __init__(self, message: str, resume_after: int) -> None:
        super().__init__(message)
        self.resume_after = resume_after


class NotImplementedYet(DomainError):
    """The API names it, but this engine does not do it yet."""
