"""The engine's end of the agents' WatchHost streams: one task per host keeps its stream open
(opened again after a break), and holds the newest state the agent sent, when it sent it, and
when the agent was last heard from, for the host monitor's rounds to take.

An agent that refuses the stream (one without WatchHost) is marked `unsupported`: the monitor
polls it instead. One silent for longer than `silence_s` (no snapshot, no heartbeat) is
unreachable, and its stream is opened again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from miglane.engine.agent_client import AgentCallError, AgentCallErrorKind, AgentClients
from miglane.engine.domain.host_status import AgentReport
from miglane.engine.domain.model import Host

log = logging.getLogger(__name__)


class HostFeed:
    """One host's stream, as the rounds see it."""

    def __init__(self, host_id: str, address: str) -> None:
        self.host_id = host_id
        self.address = address
        # The newest report (a snapshot, or unreachable after a break); None before the first.
        self.latest: AgentReport | None = None
        # Whether a round has not taken `latest` yet.
        self.new = False
        # The engine's count of completed migrations when `latest` arrived.
        self.mark = 0
        self.unsupported = False
        self.heard_at = time.monotonic()
        # Set when the first report arrives or the stream is refused.
        self.settled = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def put(self, report: AgentReport, mark: int) -> None:
        self.latest, self.new, self.mark = report, True, mark
        self.settled.set()

    def take(self) -> AgentReport | None:
        """The report not taken yet, if any."""
        if not self.new:
            return None
        self.new = False
        return self.latest


class HostFeeds:
    """Every watched host's feed. `completed()`: the engine's count of completed migrations
    (stamped on each report); `on_change()`: called when a report arrives."""

    def __init__(
        self,
        clients: AgentClients,
        *,
        interval_s: float,
        silence_s: float,
        completed: Callable[[], int],
        on_change: Callable[[], None],
    ) -> None:
        self._clients = clients
        self.interval_s = interval_s
        self.silence_s = silence_s
        self._completed = completed
        self._on_change = on_change
        self._feeds: dict[str, HostFeed] = {}

    def get(self, host_id: str) -> HostFeed | None:
        return self._feeds.get(host_id)

    def sync(self, hosts: Sequence[Host]) -> list[HostFeed]:
        """Feeds for `hosts` (a host whose agent address changed gets a new one), none for the
        others; returns those opened now."""
        wanted = {host.id: host.agent_address for host in hosts}
        for host_id in [h for h, feed in self._feeds.items() if wanted.get(h) != feed.address]:
            self._close(self._feeds.pop(host_id))
        opened = []
        for host_id, address in wanted.items():
            if host_id not in self._feeds:
                feed = self._feeds[host_id] = HostFeed(host_id, address)
                self._open(feed)
                opened.append(feed)
        return opened

    def check_silence(self, feed: HostFeed) -> None:
        """An agent silent for longer than `silence_s`: unreachable, its stream opened again."""
        silent_s = time.monotonic() - feed.heard_at
        if feed.unsupported or silent_s <= self.silence_s:
            return
        self._close(feed)
        feed.put(
            AgentReport(
                reachable=False,
                error=f"no answer in time (nothing from the agent in {silent_s:.0f} s)",
            ),
            self._completed(),
        )
        feed.heard_at = time.monotonic()
        self._open(feed)

    async def stop(self) -> None:
        tasks = [feed.task for feed in self._feeds.values() if feed.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._feeds.clear()

    def _open(self, feed: HostFeed) -> None:
        feed.task = asyncio.get_running_loop().create_task(
            self._follow(feed), name=f"host-feed-{feed.host_id}"
        )

    @staticmethod
    def _close(feed: HostFeed) -> None:
        if feed.task is not None:
            feed.task.cancel()
            feed.task = None

    async def _follow(self, feed: HostFeed) -> None:
        while True:
            try:
                states = self._clients.watch_host(feed.address, self.interval_s)
                async with contextlib.aclosing(states):
                    async for state in states:
                        feed.heard_at = time.monotonic()
                        if state is None:  # a heartbeat: the last snapshot holds
                            continue
                        capabilities = state.capabilities
                        report = AgentReport(
                            reachable=True,
                            nics=capabilities.nics,
                            facts=capabilities.facts,
                            vms=state.vms,
                        )
                        feed.put(report, self._completed())
                        self._on_change()
                error = "the agent ended its host watch"
            except AgentCallError as refused:
                if refused.kind is AgentCallErrorKind.REFUSED:  # no WatchHost: polled instead
                    feed.unsupported = True
                    feed.settled.set()
                    return
                error = refused.detail
            except Exception as unreadable:  # an answer the engine cannot read is no answer
                log.warning("host watch of %s failed: %r", feed.address, unreadable)
                error = f"unreadable answer ({unreadable!r})"
            feed.put(AgentReport(reachable=False, error=error), self._completed())
            self._on_change()
            await asyncio.sleep(self.interval_s)
