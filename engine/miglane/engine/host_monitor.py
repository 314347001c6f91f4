"""Host monitoring: every `interval` seconds the engine asks each host's agent for its
capabilities (facts, NICs) and its VMs, and records what it learned (`record_agent_report`:
attachments, UP / NON_OPERATIONAL / UNREACHABLE, the VM inventory, status events).

All hosts are polled concurrently. A round waits for the agents' answers for one interval (at
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
from miglane.engine.domain.errors import NotFound
from miglane.engine.domain.host_status import AgentReport
from miglane.engine.domain.model import Host, Vm
from miglane.engine.domain.whereabouts import assign_vms
from miglane.engine.log_fields import host_fields
from miglane.engine.store import Store

T = TypeVar("T")

log = logging.getLogger(__name__)

# A round waits at least this long for the agents' answers, however short the interval.
MIN_ROUND_WAIT_S = 0.5


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

    async def record(self, host_id: str, report: AgentReport) -> object: ...


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
        self.rounds = 0

    def start(self) -> None:
        # Polls and the status changes they find are the engine's own actions.
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="host-monitor", context=as_engine()
        )

    async def stop(self) -> None:
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
        while True:
            try:
                await self.poll_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("host polling round failed")
            self._kick.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._kick.wait()

    async def _poll(self, host: Host) -> tuple[Host, AgentReport]:
        try:
            capabilities, vms = await asyncio.gather(
                self._clients.capabilities(host.agent_address),
                self._clients.list_vms(host.agent_address),
            )
        except AgentCallError as error:
            return host, AgentReport(reachable=False, error=error.detail)
        except Exception as error:  # an answer the engine cannot read is no answer
            log.warning("poll of host %s failed: %r", host.name, error, extra=host_fields(host))
            return host, AgentReport(reachable=False, error=f"unreadable answer ({error!r})")
        return host, AgentReport(
            reachable=True, nics=capabilities.nics, facts=capabilities.facts, vms=tuple(vms)
        )

    async def _record(self, host: Host, report: AgentReport, vms: list[Vm] | None) -> None:
        if vms is not None:
            report = AgentReport(
                reachable=True, nics=report.nics, facts=report.facts, vms=tuple(vms)
            )
        try:
            await self._recorder.record(host.id, report)
        except NotFound as error:  # the host was removed meanwhile
            log.debug("report of host %s not recorded: %s", host.id, error, extra=host_fields(host))
        except Exception:  # a bug: said loudly, and the other hosts' reports still recorded
            log.exception("report of host %s not recorded", host.name, extra=host_fields(host))

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

    def _listed(self, host: Host, vms: Sequence[Vm]) -> list[Vm]:
        """The VMs a host listed, less those whose migration away from it completed after
        the question was sent: that answer predates their leaving."""
        arrived = self._whereabouts.arrived_after(self._sent_at.get(host.id, 0))
        return [vm for vm in vms if arrived.get(vm.id, host.id) == host.id]

    async def poll_all(self) -> None:
        """One round: every host polled, the answers recorded."""
        hosts: Sequence[Host] = await self._store.read(Store.all_hosts)
        addresses = {host.agent_address for host in hosts}
        for gone in self._addresses - addresses:  # removed hosts: close their channels
            await self._clients.forget(gone)
        self._addresses = addresses
        results = await self._answers(hosts)
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
        await asyncio.gather(
            *(self._record(host, report, owned.get(host.id)) for host, report in results)
        )
        if self._whereabouts.completed != completed:
            # A migration completed while this round's answers were recorded: they may have
            # put its VM back on the source; the next round, at once, puts it right.
            self.poll_soon()
        self.rounds += 1
        if self._on_round is not None:
            await self._on_round()
