"""Who caused what the engine is doing now: the identity of the call being served (set by the
gRPC authorization wrapper for the duration of each call), or the engine itself for what it does
on its own (queue passes, reruns, evacuations, polls)."""

from __future__ import annotations

from contextvars import ContextVar

ENGINE_ACTOR = "engine"

current_actor: ContextVar[str] = ContextVar("miglane_current_actor", default=ENGINE_ACTOR)
