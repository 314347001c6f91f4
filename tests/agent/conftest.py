"""Fixtures of the agent tests: a source/destination pair of hypervisors, fake or on the lab.

`hypervisors` is parametrized over the two drivers, so each contract test runs against the
in-memory fake always and against real libvirt + QEMU on the lab (those get the `lab` marker
through the `lab` fixture of tests/conftest.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from agent_support import FAKE_SPEED, Hypervisors, close_agent_channels, lab_hypervisors

from miglane.agent.domain.model import MIB, DiskKind, VmDisk, VmNic
from miglane.agent.fake_driver import FakeClock, FakeDriver, FakeFabric


@pytest.fixture
def fake_hypervisors(tmp_path) -> Hypervisors:  # type: ignore[no-untyped-def]
    fabric = FakeFabric(FakeClock(FAKE_SPEED))
    src_host, dst_host = fabric.add_host("src"), fabric.add_host("dst")

    def make_vm(name: str, memory_mib: int, dirty_mib: int) -> str:
        # The lab's guest dirties its region far faster than any cap used in the tests.
        return src_host.add_domain(
            name,
            memory_mib=memory_mib,
            dirty_rate_mibps=2048 if dirty_mib else 0,
            dirty_set_mib=dirty_mib,
        )

    def make_vm_with_devices(name: str, disks: tuple[str, ...], nics: tuple[str, ...]) -> str:
        vm_disks = []
        for index, spec in enumerate(disks):
            kind, _, size = spec.partition(":")
            target = f"vd{chr(ord('a') + index)}"
            vm_disks.append(
                VmDisk(
                    target,
                    DiskKind(kind),
                    int(size.removesuffix("M")) * MIB,
                    "raw",
                    f"/var/lib/libvirt/images/{name}-{target}.raw",
                )
            )
        vm_nics = tuple(VmNic(network, f"52:54:00:00:00:{i:02x}") for i, network in enumerate(nics))
        return src_host.add_domain(name, memory_mib=64, disks=tuple(vm_disks), nics=vm_nics)

    @contextlib.contextmanager
    def without_tls(which: str) -> Iterator[None]:
        host = src_host if which == "src" else dst_host
        host.tls_configured = False
        try:
            yield
        finally:
            host.tls_configured = True

    return Hypervisors(
        "fake",
        FakeDriver(src_host),
        FakeDriver(dst_host),
        src_host.peer_uri,
        dst_host.peer_uri,
        "tcp://10.1.0.2",
        "qemu+tls://nowhere/system",
        str(tmp_path),
        make_vm,
        dst_tls_name=dst_host.name,
        without_tls=without_tls,
        time_scale=1 / FAKE_SPEED,
        _make_vm_with_devices=make_vm_with_devices,
    )


@pytest.fixture(params=["fake", pytest.param("libvirt", marks=pytest.mark.lab)])
def hypervisors(request, tmp_path) -> Iterator[Hypervisors]:  # type: ignore[no-untyped-def]
    if request.param == "fake":
        yield request.getfixturevalue("fake_hypervisors")
        return
    lab = request.getfixturevalue("lab")
    save_dir = lab.base_dir / "agent-tests"
    save_dir.mkdir(exist_ok=True)
    yield from lab_hypervisors(lab, str(save_dir))


@pytest.fixture
async def agent_channels() -> AsyncIterator[None]:
    """Closes the channels `agent_support.agent_stub` opened during the test."""
    yield
    await close_agent_channels()
