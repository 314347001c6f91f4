"""Domain errors: what went wrong, in words an operator can act on, and a reason a program can
branch on.

The gRPC layer maps each class to one status code and each `Reason` to a
`google.rpc.ErrorInfo` reason (`miglane.engine.grpc_api.errors`); nothing here knows about
gRPC. The reasons are part of the EngineService contract: add new ones, never rename them.
"""

from __future__ import annotations

from enum import StrEnum

_SHOWN_MAX = 48


def shown(value: str) -> str:
    """A client-supplied string as it appears in messages: quoted, and cut when huge."""
    if len(value) > _SHOWN_MAX:
        return repr(value[:_SHOWN_MAX]) + f"… ({len(value)} characters)"
    return repr(value)


class Reason(StrEnum):
    """Why the engine refused, as `ErrorInfo.reason`."""

    # INVALID_ARGUMENT: a request field is malformed; BadRequest names it.
    INVALID_FIELD = "INVALID_FIELD"
    # NOT_FOUND: an id names nothing; ErrorInfo.metadata["field"] names the request field.
    NOT_FOUND = "NOT_FOUND"
    # ALREADY_EXISTS: a name or address is taken.
    ALREADY_EXISTS = "ALREADY_EXISTS"
    # FAILED_PRECONDITION: the engine's state refuses the request now.
    STATE_CONFLICT = "STATE_CONFLICT"
    # RESOURCE_EXHAUSTED: a limit is reached; retrying later may work.
    LIMIT_REACHED = "LIMIT_REACHED"
    # RESOURCE_EXHAUSTED on a stream: the client fell behind; ErrorInfo.metadata["resume_after"]
    # is the sequence to resume after.
    CONSUMER_TOO_SLOW = "CONSUMER_TOO_SLOW"
    # PERMISSION_DENIED: the caller's role does not allow this RPC; the message names the role
    # needed.
    PERMISSION_DENIED = "PERMISSION_DENIED"
    # UNAVAILABLE: this engine does not lead; ErrorInfo.metadata["leader_address"] names the
    # engine that does ("" when none is known yet): ask it instead.
    NOT_LEADER = "NOT_LEADER"
    # UNIMPLEMENTED


class DomainError(Exception):
    """Base of every error the engine reports to clients. `reason` defaults to the class's;
    `field` names the request field at fault, when one is."""

    default_reason = Reason.STATE_CONFLICT

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.field = ""

    def metadata(self) -> dict[str, str]:
        """ErrorInfo.metadata: facts a client may act on besides the reason."""
        return {"field": self.field} if self.field else {}


class InvalidArgument(DomainError):
    """A field is malformed, whatever the engine's state."""

    default_reason = Reason.INVALID_FIELD

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(DomainError):
    """An id names nothing."""

    default_reason = Reason.NOT_FOUND

    def __init__(self, field: str, kind: str, ident: str) -> None:
        super().__init__(f"{field}: no {kind} with id {shown(ident)}")
        self.field = field


class AlreadyExists(DomainError):
    """A name or address is already taken."""

    default_reason = Reason.ALREADY_EXISTS

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class FailedPrecondition(DomainError):
    """The request is well formed, but the engine's state refuses it now."""


class ResourceExhausted(DomainError):
    """A limit is reached; retrying later may work."""

    default_reason = Reason.LIMIT_REACHED


class ConsumerTooSlow(ResourceExhausted):
    """A stream's client fell so far behind that the engine stopped buffering for it."""

    default_reason = Reason.CONSUMER_TOO_SLOW

    def __init__(self, message: str, resume_after: int) -> None:
        super().__init__(message)
        self.resume_after = resume_after

    def metadata(self) -> dict[str, str]:
        return {"resume_after": str(self.resume_after)}


class PermissionDenied(DomainError):
    """The caller's role does not allow the call; the message names the role needed."""

    default_reason = Reason.PERMISSION_DENIED


class NotLeader(DomainError):
    """This engine is a follower (or a leader whose lease lapsed): it neither answers clients
    nor commands hosts; `leader_address` is the engine that leads ("" when none is known)."""

    default_reason = Reason.NOT_LEADER

    def __init__(self, leader_address: str) -> None:
        where = f"; ask the leader at {leader_address}" if leader_address else "; none leads yet"
        super().__init__(f"this engine does not lead{where}")
        self.leader_address = leader_address

    def metadata(self) -> dict[str, str]:
        return {"leader_address": self.leader_address}
