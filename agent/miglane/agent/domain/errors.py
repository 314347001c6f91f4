"""Refusals of the agent, each carrying a message a person can act on.

The gRPC layer maps each class to one status code (`miglane.agent.grpc_api.errors`)."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every refusal the agent answers with."""


class InvalidRequest(AgentError):
    """The request itself is malformed (INVALID_ARGUMENT)."""


class NotFound(AgentError):
    """The VM, job or file does not exist here (NOT_FOUND)."""


class AlreadyExists(AgentError):
    """A job with this id is already known (ALREADY_EXISTS)."""


class PreconditionFailed(AgentError):
    """The request is valid but the system is not in a state to carry it out
    (FAILED_PRECONDITION): VM not running, destination unreachable, TLS not set up."""


class LimitReached(AgentError):
    """A per-host limit, e.g. outgoing migrations (RESOURCE_EXHAUSTED)."""


class Unsupported(AgentError):
    """The hypervisor cannot do this (UNIMPLEMENTED)."""
