"""Migration jobs of one agent: the live records, their persistence and their subscribers.

Everything here is used from the agent's event loop only (no locks); hypervisor work happens
in `monitor.py` and `service.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from miglane.agent.domain.convergence import ProgressWatermark, ScheduleState, StallState
from miglane.agent.domain.job import (
    JobPlan,
    JobStatus,
    from_record,
    plan_from_record,
    plan_to_record,
    to_record,
)
from miglane.agent.domain.model import FailureKind
from miglane.fanout import Hub, NewestPerKey, Watcher

log = logging.getLogger(__name__)


@dataclass
class Job:
    """A job the agent knows: its plan, its latest status and the monitor's memory."""

    plan: JobPlan
    status: JobStatus
    # The blocking migrate/save call; None for a job found running after an agent restart.
    call: asyncio.Future[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    monitor: asyncio.Task[None] | None = None
    stall: StallState = field(default_factory=StallState)
    schedule: ScheduleState = field(default_factory=ScheduleState)
    watermark: ProgressWatermark = field(default_factory=ProgressWatermark)
    started_mono: float = field(default_factory=time.monotonic)
    # Set when the agent itself aborts the job (schedule, timeout, cancel), to tell why.
    abort_reason: tuple[FailureKind, str] | None = None
    persisted_iteration: int = -1

    @property
    def migration_id(self) -> str:
        return self.plan.migration_id


class JobStore:
    """One JSON file per job in `<state_dir>/jobs/`, so a restarted agent finds its running
    jobs again and keeps the results of finished ones. No state dir: memory only."""

    def __init__(self, state_dir: str | os.PathLike[str] | None) -> None:
        self.dir = Path(state_dir, "jobs") if state_dir else None
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, migration_id: str) -> Path:
        assert self.dir is not None
        return self.dir / f"{migration_id}.json"

    def save(self, job: Job) -> None:
        if self.dir is None:
            return
        path = self._path(job.migration_id)
        tmp = path.with_suffix(".tmp")
        record = {"plan": plan_to_record(job.plan), "status": to_record(job.status)}
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)

    def delete(self, migration_id: str) -> None:
        if self.dir is not None:
            self._path(migration_id).unlink(missing_ok=True)

    def load(self) -> list[tuple[JobPlan, JobStatus]]:
        if self.dir is None:
            return []
        found = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                record: dict[str, Any] = json.loads(path.read_text())
                found.append((plan_from_record(record["plan"]), from_record(record["status"])))
            except (OSError, ValueError, KeyError, TypeError) as e:
                log.warning("ignoring unreadable job record %s: %s", path, e)
        return found


def _job_id(status: JobStatus) -> str:
    return status.migration_id


# One watcher's buffer: the newest status of each job that changed since it last read, in the
# order the jobs first changed. Statuses only move forward, so a slow watcher loses nothing
# true, and its buffer never holds more entries than there are jobs (so it is never dropped).
ProgressWatcher: TypeAlias = Watcher[JobStatus]


class ProgressFeed:
    """Fans job statuses out to watchers; publishing never waits. Used from the event loop's
    thread only."""

    def __init__(self) -> None:
        self._hub: Hub[JobStatus] = Hub(lambda: NewestPerKey(_job_id))

    @property
    def watcher_count(self) -> int:
        return self._hub.watcher_count

    def publish(self, status: JobStatus) -> None:
        self._hub.publish((status,))

    async def watch(self, migration_id: str, current: list[JobStatus]) -> AsyncIterator[JobStatus]:
        """`current` first, then every change (of job `migration_id`, or of every job for "");
        a watch of one job ends with its last status."""
        watcher = self._hub.subscribe(
            (lambda status: status.migration_id == migration_id) if migration_id else None
        )
        try:
            for status in current:
                yield status
                if migration_id and status.finished:
                    return
            async for status in watcher:
                yield status
                if migration_id and status.finished:
                    return
        finally:
            watcher.close()
