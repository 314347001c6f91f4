"""Refusals of the agent: a sentence a person can act on, and a reason a program can branch on.

Each class is one gRPC status code and each `Reason` one `google.rpc.ErrorInfo` reason; the
gRPC layer maps them in one place (`miglane.agent.grpc_api.errors`). The reasons are part of
the AgentService contract (listed in agent_service.proto): add new ones, never rename them.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why the agent refused, as `ErrorInfo.reason`."""

    # INVALID_ARGUMENT: a request field is malformed; `field` names it (BadRequest).
    INVALID_FIELD = "INVALID_FIELD"
    # NOT_FOUND
    VM_NOT_FOUND = "VM_NOT_FOUND"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    SAVED_STATE_NOT_FOUND = "SAVED_STATE_NOT_FOUND"
    # ALREADY_EXISTS: the migration id names a job this agent knows.
    JOB_EXISTS = "JOB_EXISTS"
    # FAILED_PRECONDITION
    VM_NOT_RUNNING = "VM_NOT_RUNNING"
    VM_ALREADY_MIGRATING = "VM_ALREADY_MIGRATING"
    AGENT_STOPPING = "AGENT_STOPPING"
    # The destination's libvirt could not be reached or refused the migration.
    DESTINATION_UNREACHABLE = "DESTINATION_UNREACHABLE"
    # The migration data connection (migration URI) failed.
    MIGRATION_NETWORK_FAILED = "MIGRATION_NETWORK_FAILED"
    TLS_NOT_CONFIGURED = "TLS_NOT_CONFIGURED"
    # The job is finished (completed, failed or cancelled) or past the point of no return.
    JOB_FINISHED = "JOB_FINISHED"
    JOB_IN_POST_COPY = "JOB_IN_POST_COPY"
    # The call carries a lower engine term than one this agent has seen: a deposed leader.
    STALE_ENGINE_TERM = "STALE_ENGINE_TERM"
    # The hypervisor has no job for the VM, or cancelled it.
    NO_HYPERVISOR_JOB = "NO_HYPERVISOR_JOB"
    HYPERVISOR_CANCELLED = "HYPERVISOR_CANCELLED"
    HYPERVISOR_ERROR = "HYPERVISOR_ERROR"
    # RESOURCE_EXHAUSTED: the host's outgoing-migration limit is reached; retry later.
    AGENT_BUSY = "AGENT_BUSY"
    # UNIMPLEMENTED: the hypervisor cannot do this.
    UNSUPPORTED = "UNSUPPORTED"
    # PERMISSION_DENIED: the caller is not the engine.
    PERMISSION_DENIED = "PERMISSION_DENIED"


class DomainError(Exception):
    """Base of every refusal the agent answers with. `reason` defaults to the class's."""

    default_reason = Reason.HYPERVISOR_ERROR

    def __init__(self, message: str, *, reason: Reason | None = None, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        # The request field at fault, for INVALID_ARGUMENT; empty otherwise.
        self.field = field


class InvalidArgument(DomainError):
    """The request itself is malformed (INVALID_ARGUMENT); `field` names the culprit."""

    default_reason = Reason.INVALID_FIELD


class NotFound(DomainError):
    """The VM, job or file does not exist here (NOT_FOUND)."""

    default_reason = Reason.JOB_NOT_FOUND


class AlreadyExists(DomainError):
    """A job with this id is already known (ALREADY_EXISTS)."""

    default_reason = Reason.JOB_EXISTS


class FailedPrecondition(DomainError):
    """The request is valid but the system is not in a state to carry it out
    (FAILED_PRECONDITION): VM not running, destination unreachable, TLS not set up."""

    default_reason = Reason.HYPERVISOR_ERROR


class ResourceExhausted(DomainError):
    """A per-host limit, e.g. outgoing migrations (RESOURCE_EXHAUSTED)."""

    default_reason = Reason.AGENT_BUSY


class Unsupported(DomainError):
    """The hypervisor cannot do this (UNIMPLEMENTED)."""

    default_reason = Reason.UNSUPPORTED


class PermissionDenied(DomainError):
    """The caller is not the engine: only the engine's identity may call an agent."""

    default_reason = Reason.PERMISSION_DENIED


class StaleEngineTerm(FailedPrecondition):
    """The calling engine's term is lower than one this agent obeyed: it no longer leads."""

    default_reason = Reason.STALE_ENGINE_TERM
