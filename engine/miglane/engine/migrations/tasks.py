"""BackgroundTasks: the migration side's background tasks (launches, follows, recoveries,
rebalancing, the runners), failures logged, all cancelled at stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

from miglane.engine.actor import as_engine

log = logging.getLogger(__name__)


class BackgroundTasks:
    """Used from the event loop's thread only."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopping = False

    def spawn(
        self, coroutine: Coroutine[object, object, None], name: str
    ) -> asyncio.Task[None] | None:
        """Runs `coroutine` in the background, as the engine's own action (whoever's call
        spawned it); None (and not run) once stopping."""
        if self.stopping:
            coroutine.close()
            return None
        task = asyncio.get_running_loop().create_task(coroutine, name=name, context=as_engine())
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        self.stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
