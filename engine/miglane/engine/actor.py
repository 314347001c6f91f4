"""Who caused what the engine is doing now: the identity of the call being served (set by the
gRPC authorization wrapper for the duration of each call), or the engine itself for what it does
on its own (queue passes, reruns, evacuations, polls), in a context of its own."""

from __future__ import annotations

from contextvars import Context, ContextVar, copy_context

from miglane.daemon import clear_log_context
from miglane.engine.domain.model import ENGINE_ACTOR

__all__ = ["ENGINE_ACTOR", "as_engine", "current_actor"]

current_actor: ContextVar[str] = ContextVar("miglane_current_actor", default=ENGINE_ACTOR)


def as_engine() -> Context:
    """A copy of the current context in which the engine is the actor. An asyncio task copies
    the context it is created in, so a task the engine spawns for itself while serving a call
    would otherwise act in the caller's name for as long as it lives: create such tasks with
    `context=as_engine()`."""
    context = copy_context()
    context.run(current_actor.set, ENGINE_ACTOR)
    # Nor does it log as concerning what its creator handled: a migration's task binds its own.
    context.run(clear_log_context)
    return context
