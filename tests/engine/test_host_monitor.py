"""Which host a VM belongs to when the agents' answers, taken moments apart, disagree."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from engine_support import insert_vm

from miglane.engine.agent_client import AgentClients, Capabilities, HostState
from miglane.engine.domain.model import ClusterSpec, HostFacts, HostSpec, Vm, VmState
from miglane.engine.domain.whereabouts import assign_vms
from miglane.engine.host_monitor import HostMonitor
from miglane.engine.inventory import Inventory


def vm(ident: str, state: VmState = VmState.RUNNING, host: str = "") -> Vm:
    return Vm(id=ident, name=ident, host_id=host, cluster_id="c", state=state)


R, M, S, P = VmState.RUNNING, VmState.MIGRATING, VmState.SHUT_OFF, VmState.PAUSED


@pytest.mark.parametrize(
    ("reports", "known", "hints", "expected"),
    [
        # one host each: as reported
        ({"a": [vm("x")], "b": [vm("y")]}, {}, {}, {"a": ["x"], "b": ["y"]}),
        # the source still lists it migrating, the destination paused (incoming): source
        ({"a": [vm("x", M)], "b": [vm("x", P)]}, {}, {}, {"a": ["x"], "b": []}),
        # leftovers: a shut-off copy loses to the running one
        ({"a": [vm("x", S)], "b": [vm("x", R)]}, {}, {}, {"a": [], "b": ["x"]}),
        # the engine knows it just completed to b: b, even if a's answer is older
        ({"a": [vm("x", M)], "b": [vm("x", R)]}, {}, {"x": "b"}, {"a": [], "b": ["x"]}),
        # between source and destination: nobody lists it; kept where the hint says
        ({"a": [], "b": []}, {"x": vm("x", R, "a")}, {"x": "b"}, {"a": [], "b": ["x"]}),
        # a hint to a host that did not answer changes nothing
        ({"a": []}, {"x": vm("x", R, "b")}, {"x": "b"}, {"a": []}),
        # the source said it left, the destination (hinted) has not reported yet: it stays
        # where it is on record rather than vanish until the destination reports
        ({"a": []}, {"x": vm("x", R, "a")}, {"x": "b"}, {"a": ["x"]}),
        # the source of a running migration (hinted) stopped listing it: it stays there
        ({"a": [], "b": []}, {"x": vm("x", M, "a")}, {"x": "a"}, {"a": ["x"], "b": []}),
        # really gone (no hint): gone
        ({"a": []}, {"x": vm("x", R, "a")}, {}, {"a": []}),
        # listed by one host only: reality beats a hint
        ({"a": [], "b": [vm("x")]}, {}, {"x": "a"}, {"a": [], "b": ["x"]}),
    ],
)
def test_assign_vms(
    reports: dict[str, list[Vm]],
    known: dict[str, Vm],
    hints: dict[str, str],
    expected: dict[str, list[str]],
) -> None:
    assigned = assign_vms(reports, known, hints)
    assert {host: [v.id for v in vms] for host, vms in assigned.items()} == expected


async def test_a_round_without_hosts_is_quiet(inventory: Inventory) -> None:
    rounds = []

    async def on_round() -> None:
        rounds.append(1)

    monitor = HostMonitor(
        inventory.worker, inventory.reports, AgentClients(), interval_s=0.01, on_round=on_round
    )
    await monitor.poll_all()  # raised "Set of Tasks/Futures is empty" before
    assert rounds == [1]


class _MovedTo:
    """The engine's migrations: `vm_id` is on its way to `host_id` until `complete()`."""

    def __init__(self, vm_id: str, host_id: str) -> None:
        self._vm_id = vm_id
        self._host_id = host_id
        self.completed = 0

    def complete(self) -> None:
        self.completed += 1

    def hints(self) -> dict[str, str]:
        return {self._vm_id: self._host_id}

    def arrived_after(self, mark: int) -> dict[str, str]:
        return {self._vm_id: self._host_id} if mark < self.completed else {}


class _AnswerFromBeforeTheMove:
    """Agents of hosts a and b: a lists `vm` (as it did when asked), and the migration of
    `vm` to b completes while a's answer is on its way."""

    def __init__(self, vm: Vm, moved: Callable[[], None]) -> None:
        self._vm = vm
        self._moved = moved

    async def capabilities(self, address: str) -> Capabilities:
        return Capabilities(HostFacts(hostname=address), (), 2, 0)

    async def list_vms(self, address: str) -> list[Vm]:
        if address != "a:1":
            return []
        self._moved()
        return [replace(self._vm, host_id="", cluster_id="")]


async def test_an_answer_sent_before_a_migration_completed_does_not_undo_it(
    inventory: Inventory,
) -> None:
    cluster = await inventory.clusters.create_cluster(ClusterSpec("c1"))
    a = (await inventory.hosts.add_host(HostSpec(cluster.id, "a", "a:1"))).host
    b = (await inventory.hosts.add_host(HostSpec(cluster.id, "b", "b:1"))).host
    moving = await insert_vm(inventory, a.id, cluster.id, name="x")
    whereabouts = _MovedTo(moving.id, b.id)
    monitor = HostMonitor(
        inventory.worker,
        inventory.reports,
        _AnswerFromBeforeTheMove(moving, whereabouts.complete),  # type: ignore[arg-type]
        whereabouts=whereabouts,
    )
    await monitor.poll_all()
    assert (await inventory.vms.get_vm(moving.id)).host_id == b.id


class _Streams:
    """Agents streaming their host's state (WatchHost): each sends what the test puts in its
    queue, when the test puts it (streamed hosts report on their own, not in one round)."""

    call_timeout_s = 3.0

    def __init__(self, *addresses: str) -> None:
        self.queues: dict[str, asyncio.Queue[list[Vm]]] = {a: asyncio.Queue() for a in addresses}

    def put(self, address: str, vms: list[Vm]) -> None:
        """`vms` to be streamed by the agent at `address`."""
        self.queues[address].put_nowait([replace(v, host_id="", cluster_id="") for v in vms])

    async def send(self, address: str, vms: list[Vm]) -> None:
        """`vms` streamed by the agent at `address`, once the engine's open feed took them."""
        self.put(address, vms)
        async with asyncio.timeout(10):
            while not self.queues[address].empty():
                await asyncio.sleep(0)

    async def watch_host(self, address: str, interval_s: float) -> AsyncIterator[HostState]:
        while True:
            vms = await self.queues[address].get()
            yield HostState(Capabilities(HostFacts(hostname=address), (), 2, 0), tuple(vms))


async def test_a_vm_switching_hosts_stays_listed_until_the_destination_reports_it(
    inventory: Inventory,
) -> None:
    """The source's stream says the VM left after the engine saw its migration complete, and
    before the destination's stream says it arrived: it stays on record (where it was) rather
    than vanish from the engine's lists until the destination reports."""
    cluster = await inventory.clusters.create_cluster(ClusterSpec("c1"))
    a = (await inventory.hosts.add_host(HostSpec(cluster.id, "a", "a:1"))).host
    b = (await inventory.hosts.add_host(HostSpec(cluster.id, "b", "b:1"))).host
    moving = await insert_vm(inventory, a.id, cluster.id, name="x")
    streams = _Streams("a:1", "b:1")
    monitor = HostMonitor(
        inventory.worker,
        inventory.reports,
        streams,  # type: ignore[arg-type]
        whereabouts=_MovedTo(moving.id, b.id),  # completed to b, as far as the engine knows
        watch_hosts=True,
    )
    try:
        streams.put("a:1", [moving])
        streams.put("b:1", [])
        await monitor.poll_all()  # opens the streams, waits for their first state
        assert (await inventory.vms.get_vm(moving.id)).host_id == a.id
        await streams.send("a:1", [])  # the source let it go; the destination is silent
        await monitor.poll_all(changes_only=True)
        listed = (await inventory.vms.list_vms(cluster_id=cluster.id)).items
        assert [vm.id for vm in listed] == [moving.id]
        await streams.send("b:1", [moving])  # the destination reports it
        await monitor.poll_all(changes_only=True)
        assert (await inventory.vms.get_vm(moving.id)).host_id == b.id
    finally:
        await monitor.stop()
