"""Host monitoring: every `interval` seconds the engine records what it knows of each host's
state (capabilities: facts, NICs; and its VMs) in a round (`AgentReportRecorder.record_all`:
attachments, UP / NON_OPERATIONAL / UNREACHABLE, the VM inventory, status events).

With `watch_hosts` the agents stream their state (WatchHost, `host_feeds`): a snapshot, then a
new one when it changed, heartbeats in between; nothing is asked, and a change is recorded at
once by a round of the changed hosts alone (`CHANGE_BATCH_S` gathers the changes that come
together). An agent without WatchHost, and every agent without `watch_hosts`, is polled: asked
for its capabilities and VMs each round.

All polled hosts are asked concurrently. A round waits for their answers for one interval (at
least `MIN_ROUND_WAIT_S`); an agent that answers later, or hangs until the call deadline
(`--agent-timeout-s`), is recorded with a later round and never holds up the others.

Agents answer at slightly different moments: a VM in flight is placed with the engine's own
knowledge of its migration when their answers disagree (`domain.whereabouts.assign_vms`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from miglane.engine.actor import as_engine
from miglane.engine.agent_client import AgentCallError, AgentClients
from miglane.engine.config import DEFAULT_POLL_INTERVAL_S
from miglane.engine.domain.errors import NotLeader
from miglane.engine.domain.host_status import AgentReport
from miglane.engine.domain.model import Host, Vm
from miglane.engine.domain.whereabouts import assign_vms
from miglane.engine.host_feeds import HostFeeds
from miglane.engine.log_fields import host_fields
from miglane.engine.store import Store

T = TypeVar("T")

log = logging.getLogger(__name__)

# A round waits at least this long for the agents' answers, however short the interval.
MIN_ROUND_WAIT_S = 0.5
# A change streamed by an agent is recorded this long after it came, with those that came
# meanwhile (a migration changes two hosts at once).
CHANGE_BATCH_S = 0.05
CHANGE_ROUND_SHARE = 0.25
# Logged once, when every host has reported since the monitor started (how long taking charge
# really takes: the failover benchmark reads it).
ALL_REPORTED_LOG = "every host reported: %d host(s)"


class VmWhereabouts(Protocol):
    """What the engine's migrations say about where VMs are (`migrations.arrivals`)."""

    @property
    def completed(self) -> int:
        """How many migrations completed so far."""

    def hints(self) -> Mapping[str, str]:
        """VM id -> host, for the VMs in flight or just arrived."""

    def arrived_after(self, mark: int) -> Mapping[str, str]:
        """VM id -> destination of the migrations completed after `completed` was `mark`."""


class NoMigrations:
    """Whereabouts of an engine that migrates nothing."""

    completed = 0

    def hints(self) -> Mapping[str, str]:
        return {}

    def arrived_after(self, mark: int) -> Mapping[str, str]:
        return {}


class StoreReads(Protocol):
    """Reads of the store (on its worker thread)."""

    async def read(self, work: Callable[[Store], T]) -> T: ...


class ReportRecorder(Protocol):
    """Where polls are recorded (the inventory's agent-report recorder)."""

    async def record_all(self, reports: Sequence[tuple[str, AgentReport]]) -> None: ...


def _with_vms(report: AgentReport, vms: list[Vm] | None) -> AgentReport:
    """The report with the VMs the host was found to own (unchanged without them)."""
    return report if vms is None else replace(report, vms=tuple(vms))


def _vms_by_id(store: Store, ids: Sequence[str]) -> dict[str, Vm]:
    found = (store.get_vm(vm_id) for vm_id in ids)
    return {vm.id: vm for vm in found if vm is not None}


class HostMonitor:
    def __init__(
        self,
        store: StoreReads,
        recorder: ReportRecorder,
        clients: AgentClients,
        *,
        interval_s: float = DEFAULT_POLL_INTERVAL_S,
        whereabouts: VmWhereabouts | None = None,
        on_round: Callable[[], Awaitable[None]] | None = None,
        watch_hosts: bool = False,
    ) -> None:
        self._store = store
        self._recorder = recorder
        self._clients = clients
        self.interval_s = interval_s
        self._on_round = on_round
        self._whereabouts = whereabouts or NoMigrations()
        # `whereabouts.completed` when each host's pending poll was sent, by host id.
        self._sent_at: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self._addresses: set[str] = set()
        # Polls still waiting for their agent, by host id (they outlive a round).
        self._polling: dict[str, asyncio.Task[tuple[Host, AgentReport]]] = {}
        self._changed = asyncio.Event()
        self._feeds = (
            HostFeeds(
                clients,
                interval_s=interval_s,
                # A heartbeat a interval, and a call's deadline for it to come.
                silence_s=interval_s + clients.call_timeout_s,
                completed=lambda: self._whereabouts.completed,
                on_change=self._changed.set,
            )
            if watch_hosts
            else None
        )
        self.rounds = 0
        # Hosts heard from since the start (None once every host was, as the log said).
        self._reported: set[str] | None = set()

    def start(self) -> None:
        # Polls and the status changes they find are the engine's own actions.
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="host-monitor", context=as_engine()
        )

    async def stop(self) -> None:
        if self._feeds is not None:
            await self._feeds.stop()
        for task in self._polling.values():
            task.cancel()
        await asyncio.gather(*self._polling.values(), return_exceptions=True)
        self._polling.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def poll_soon(self) -> None:
        """Starts the next round now (a host was added, maintenance changed...)."""
        self._kick.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        changes_only = False
        while True:
            started = loop.time()
            try:
                await self.poll_all(changes_only=changes_only)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("host polling round failed")
            if not changes_only:
                self._kick.clear()
                full_due = started + self.interval_s
            changes_only = await self._next_round(started, full_due)

    async def _next_round(self, last_started: float, full_due: float) -> bool:
        """Until the next round is due: True for a round of the streamed changes alone,
        False for a full one (the interval passed, or `poll_soon`). Rounds of changes start
        at most every `CHANGE_ROUND_SHARE` of the interval (a storm changes hosts all the
        time; each round reads them all)."""
        loop = asyncio.get_running_loop()
        kicked = asyncio.ensure_future(self._kick.wait())
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait(
                [kicked, changed],
                timeout=max(full_due - loop.time(), 0),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            kicked.cancel()
            changed.cancel()
        if self._kick.is_set() or loop.time() >= full_due:
            return False
        gap = last_started + self.interval_s * CHANGE_ROUND_SHARE - loop.time()
        await asyncio.sleep(max(CHANGE_BATCH_S, gap))
        return True

    async def _poll(self, host: Host) -> tuple[Host, AgentReport]:
        try:
            capabilities, vms = await asyncio.gather(
                self._clients.capabilities(host.agent_address),
                self._clients.list_vms(host.agent_address),
            )
        except AgentCallError as error:
            return host, AgentReport(reachable=False, error=error.detail)
        except NotLeader:  # deposed: this engine records nothing more
            raise
        except Exception as error:  # an answer the engine cannot read is no answer
            log.warning("poll of host %s failed: %r", host.name, error, extra=host_fields(host))
            return host, AgentReport(reachable=False, error=f"unreadable answer ({error!r})")
        return host, AgentReport(
            reachable=True, nics=capabilities.nics, facts=capabilities.facts, vms=tuple(vms)
        )

    async def _answers(self, hosts: Sequence[Host]) -> list[tuple[Host, AgentReport]]:
        """The agents' answers of this round. An agent that has not answered within the
        interval does not hold the round up: its poll goes on, and its answer is recorded
        with a later round, without its VM list (too old to place VMs by)."""
        late = [task.result() for task in self._polling.values() if task.done()]
        for host_id in [h for h, task in self._polling.items() if task.done()]:
            del self._polling[host_id]
        for host in hosts:
            if host.id not in self._polling:
                self._sent_at[host.id] = self._whereabouts.completed
                self._polling[host.id] = asyncio.get_running_loop().create_task(
                    self._poll(host), name=f"poll-{host.name}"
                )
        fresh = [self._polling[host.id] for host in hosts]
        if fresh:  # an engine with no host yet has nothing to wait for
            await asyncio.wait(fresh, timeout=max(self.interval_s, MIN_ROUND_WAIT_S))
        answers = []
        for host in hosts:
            task = self._polling[host.id]
            if task.done():
                del self._polling[host.id]
                answers.append(task.result())
        answered = {host.id for host, _ in answers}
        for host, report in late:
            if host.id not in answered:
                answers.append((host, replace(report, vms=None)))
        return answers

    def _note_reported(
        self, hosts: Sequence[Host], results: Sequence[tuple[Host, AgentReport]]
    ) -> None:
        if self._reported is None:
            return
        self._reported.update(host.id for host, report in results if report.reachable)
        if hosts and all(host.id in self._reported for host in hosts):
            self._reported = None
            log.info(ALL_REPORTED_LOG, len(hosts))

    def _listed(self, host: Host, vms: Sequence[Vm]) -> list[Vm]:
        """The VMs a host listed, less those whose migration away from it completed after
        the question was sent: that answer predates their leaving."""
        arrived = self._whereabouts.arrived_after(self._sent_at.get(host.id, 0))
        return [vm for vm in vms if arrived.get(vm.id, host.id) == host.id]

    async def _streamed(
        self, hosts: Sequence[Host], *, changes_only: bool
    ) -> list[tuple[Host, AgentReport]]:
        """What the watched hosts' streams brought: each new report (its VMs placed as of
        when it came), and, unless `changes_only`, the last one again without its VMs for every
        other host (its status and last-seen time recorded anew). A stream opened now is waited
        for, like a poll, for one interval."""
        assert self._feeds is not None
        opened = self._feeds.sync(hosts)
        if opened:
            await asyncio.wait(
                [asyncio.ensure_future(feed.settled.wait()) for feed in opened],
                timeout=max(self.interval_s, MIN_ROUND_WAIT_S),
            )
        answers = []
        for host in hosts:
            feed = self._feeds.get(host.id)
            if feed is None or feed.unsupported:
                continue
            self._feeds.check_silence(feed)
            report = feed.take()
            if report is not None:
                self._sent_at[host.id] = feed.mark
                answers.append((host, report))
            elif feed.latest is not None and not changes_only:
                answers.append((host, replace(feed.latest, vms=None)))
        return answers

    def _polled_hosts(self, hosts: Sequence[Host]) -> list[Host]:
        """The hosts asked each round: all without streams, else those whose agent has none."""
        if self._feeds is None:
            return list(hosts)
        feeds = [self._feeds.get(host.id) for host in hosts]
        return [h for h, feed in zip(hosts, feeds, strict=True) if feed and feed.unsupported]

    async def poll_all(self, *, changes_only: bool = False) -> None:
        """One round: every host's state taken (streamed or polled), and recorded;
        `changes_only`: only the hosts whose stream brought something new."""
        self._changed.clear()
        hosts: Sequence[Host] = await self._store.read(Store.all_hosts)
        addresses = {host.agent_address for host in hosts}
        for gone in self._addresses - addresses:  # removed hosts: close their channels
            await self._clients.forget(gone)
        self._addresses = addresses
        results = []
        if self._feeds is not None:
            results = await self._streamed(hosts, changes_only=changes_only)
        if not changes_only:
            results += await self._answers(self._polled_hosts(hosts))
        hints = self._whereabouts.hints()
        known = await self._store.read(functools.partial(_vms_by_id, ids=list(hints)))
        # From here to the records, no await: the answers are weighed against every
        # migration completed so far.
        completed = self._whereabouts.completed
        listed = {
            host.id: self._listed(host, report.vms)
            for host, report in results
            if report.reachable and report.vms is not None
        }
        owned = assign_vms(listed, known, hints)
        await self._recorder.record_all(
            [(host.id, _with_vms(report, owned.get(host.id))) for host, report in results]
        )
        if self._whereabouts.completed != completed:
            # A migration completed while this round's answers were recorded: they may have
            # put its VM back on the source; the next round, at once, puts it right.
            self.poll_soon()
        self.rounds += 1
        self._note_reported(hosts, results)
        if self._on_round is not None:
            await self._on_round()
