"""The interceptor that fences AgentService calls by engine term: it reads the term from the
call's metadata and lets `EngineTerms` admit or refuse it (FAILED_PRECONDITION,
STALE_ENGINE_TERM) before the call reaches the servicer."""

from __future__ import annotations

from contextvars import Token

import grpc

from miglane.agent.domain.errors import DomainError, InvalidArgument
from miglane.agent.engine_terms import EngineTerms
from miglane.agent.grpc_api.errors import rich_status
from miglane.grpctls import ServiceGate
from miglane.v1.leadership import ENGINE_TERM_KEY


def offered_term(metadata: object) -> int | None:
    """The engine term of a call's invocation metadata (None: it carries none)."""
    for key, value in metadata or ():  # type: ignore[attr-defined]
        if key == ENGINE_TERM_KEY:
            text = value.decode() if isinstance(value, bytes) else str(value)
            try:
                return int(text)
            except ValueError:
                raise InvalidArgument(
                    f"metadata {ENGINE_TERM_KEY} must be a whole number, not {text[:20]!r}",
                    field=ENGINE_TERM_KEY,
                ) from None
    return None


class EngineTermCheck(ServiceGate):
    """Fences the calls of `service` (the health service stays open)."""

    def __init__(self, terms: EngineTerms, service: str) -> None:
        super().__init__(service)
        self._terms = terms

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> Token[str] | None:
        try:
            self._terms.admit(offered_term(context.invocation_metadata()))
        except DomainError as error:
            status = rich_status(error)
            await context.abort(status.code, status.details, status.trailing_metadata)
        return None
