"""A paused guest live-migrates through the agent over real libvirt + QEMU, and arrives paused
(root; marker `lab` through the fixture)."""

from __future__ import annotations

import pytest
from agent_support import agent_stub, watch_progress
from test_agent_lab import LabAgent, lab_agent

from miglane.v1 import common_pb2

__all__ = ["lab_agent"]  # the fixture, shared with test_agent_lab

pytestmark = pytest.mark.usefixtures("agent_channels")


def pause(la: LabAgent, name: str) -> None:
    import libvirt

    connection = libvirt.open(la.h1.libvirt_uri)
    try:
        connection.lookupByName(name).suspend()
    finally:
        connection.close()


def states(la: LabAgent, name: str) -> dict[str, str]:
    return {vm.host: vm.state for vm in la.lab.list_vms() if vm.name == name}


async def test_a_paused_guest_migrates_and_arrives_paused(lab_agent: LabAgent) -> None:
    la = lab_agent
    name = la.make_vm(128)
    pause(la, name)
    assert states(la, name) == {la.h1.name: "paused"}
    await agent_stub(la.target).Migrate(la.request(name, "paused", 64))
    samples = await watch_progress(la.target, "paused", 60)
    final = samples[-1]
    assert final.phase == common_pb2.MIGRATION_PHASE_COMPLETED, final.error
    assert states(la, name).get(la.h2.name) == "paused"
    assert states(la, name).get(la.h1.name) in (None, "shut off")
