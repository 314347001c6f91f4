"""Helpers of the agent tests (imported by name: tests/agent is on sys.path)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from miglane.agent.driver import HypervisorDriver
from miglane.grpctls import secure_channel
from miglane.pki import Credentials
from miglane.v1 import agent_pb2, agent_pb2_grpc

if TYPE_CHECKING:
    from miglane.lab import Lab

FAKE_SPEED = 4.0  # the fake's seconds run this much faster than real ones
_names = itertools.count(1)


def unique_name(prefix: str = "agt") -> str:
    return f"{prefix}-{next(_names)}-{int(time.time() * 1000) % 100000}"


@dataclass
class Hypervisors:
    """Two hosts: `src` where the guests start, `dst` to migrate to."""

    kind: str
    src: HypervisorDriver
    dst: HypervisorDriver
    src_peer_uri: str
    dst_peer_uri: str
    dst_migration_uri: str
    unreachable_peer_uri: str
    save_dir: str
    _make_vm: Callable[[str, int, int], str]
    # The name the destination's certificate carries (libvirt's TLS destination).
    dst_tls_name: str = ""
    # `without_tls("src" | "dst")`: that host lacks its migration certificates meanwhile.
    without_tls: Callable[[str], AbstractContextManager[None]] = contextlib.nullcontext
    # Real seconds per simulated second (1 on the lab).
    time_scale: float = 1.0
    # `(name, disks, nics)`: a guest on `src` with disks "local:SIZE" / "shared:SIZE" (the
    # lab's notation) and vNICs on the networks named, which both hosts have.
    _make_vm_with_devices: Callable[[str, tuple[str, ...], tuple[str, ...]], str] | None = None

    def make_vm(self, memory_mib: int = 64, dirty_mib: int = 0) -> str:
        """Starts a guest on `src` that filled its memory (and keeps dirtying `dirty_mib`)."""
        return self._make_vm(unique_name(), memory_mib, dirty_mib)

    def make_vm_with_devices(self, disks: tuple[str, ...], nics: tuple[str, ...] = ()) -> str:
        assert self._make_vm_with_devices is not None
        return self._make_vm_with_devices(unique_name(), disks, nics)

    def sleep(self, seconds: float) -> None:
        """Sleeps `seconds` of the hypervisors' time."""
        time.sleep(seconds * self.time_scale)


@dataclass(frozen=True)
class AgentTarget:
    """How a test reaches an agent: its address, the host name its certificate holds, and the
    caller's credentials (the engine's identity, the only one an agent obeys)."""

    address: str
    host_name: str
    caller: Credentials


_open_channels: list[grpc.aio.Channel] = []


def agent_stub(target: AgentTarget) -> agent_pb2_grpc.AgentServiceStub:
    """A stub on a channel of its own, closed after the test by the `agent_channels` fixture."""
    channel = secure_channel(target.address, target.caller, server_name=target.host_name)
    _open_channels.append(channel)
    return agent_pb2_grpc.AgentServiceStub(channel)


async def close_agent_channels() -> None:
    channels = list(_open_channels)
    _open_channels.clear()
    for channel in channels:
        await channel.close(None)


async def watch_progress(
    target: AgentTarget, migration_id: str, timeout: float
) -> list[agent_pb2.MigrationProgress]:
    """Every progress sample of one migration, until its last."""
    samples = []
    async with asyncio.timeout(timeout):
        call = agent_stub(target).WatchMigrationProgress(
            agent_pb2.WatchMigrationProgressRequest(migration_id=migration_id)
        )
        async for item in call:
            samples.append(item.progress)
    return samples


def wait_for(condition: Callable[[], bool], timeout: float = 30, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def lab_hypervisors(lab: Lab, tmp_dir: str) -> Iterator[Hypervisors]:
    from miglane.agent.libvirt_driver import LibvirtDriver
    from miglane.lab import LabError, pki
    from miglane.lab.plan import plan_lab

    status = lab.status()
    h1, h2 = status.hosts[0], status.hosts[1]
    src, dst = (
        LibvirtDriver(h.libvirt_uri, qemu_tls_dir=h.qemu_tls_dir, client_pki_dir=h.client_pki_dir)
        for h in (h1, h2)
    )
    made: list[str] = []

    @contextlib.contextmanager
    def without_tls(which: str) -> Iterator[None]:
        paths = lab.paths.host((h1 if which == "src" else h2).name)
        pki.remove_qemu_file(paths, "server-cert.pem")
        try:
            yield
        finally:
            pki.restore_qemu_file(paths, "server-cert.pem")

    def make_vm(name: str, memory_mib: int, dirty_mib: int) -> str:
        lab.create_vm(h1.name, name, memory_mib=memory_mib, dirty_mib=dirty_mib)
        made.append(name)
        return next(d.id for d in src.list_domains() if d.name == name)

    def make_vm_with_devices(name: str, disks: tuple[str, ...], nics: tuple[str, ...]) -> str:
        for network in nics:
            lab.add_vm_network(network, [h1.name, h2.name])
        lab.create_vm(h1.name, name, 64, disks=disks, nics=nics)
        made.append(name)
        return next(d.id for d in src.list_domains() if d.name == name)

    unreachable = plan_lab(status.slot, 60).hosts[59].mgmt_addr  # planned, never up
    hv = Hypervisors(
        "libvirt",
        src,
        dst,
        h1.peer_uri,
        h2.peer_uri,
        h2.migration_uri,
        f"qemu+tls://{unreachable}/system",
        tmp_dir,
        make_vm,
        dst_tls_name=h2.name,
        without_tls=without_tls,
        _make_vm_with_devices=make_vm_with_devices,
    )
    try:
        yield hv
    finally:
        for name in made:
            for host in (h1.name, h2.name):
                with contextlib.suppress(LabError):  # not on that host
                    lab.destroy_vm(host, name)
        src.close()
        dst.close()
