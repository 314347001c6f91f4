"""`down` leaves nothing behind, whatever crashed before it; `up` repairs and resizes a lab.

These tests bring up labs of their own (`spare_lab`, in a slot of its own), not the session's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from miglane.lab import Lab, Network, storage
from miglane.lab.network import links, list_netns
from miglane.lab.plan import plan_lab
from miglane.lab.processes import cmdline, is_running, read_pid_file, wait_until

pytestmark = pytest.mark.lab


def qemu_pids(lab: Lab) -> list[int]:
    """QEMU processes, by the pid files libvirt writes for each guest."""
    return [
        pid
        for pid_file in lab.paths.hosts_dir.glob("*/run/qemu/*.pid")
        if (pid := read_pid_file(pid_file)) and "qemu-system" in " ".join(cmdline(pid))
    ]


def lab_pids(lab: Lab) -> list[int]:
    state = json.loads(lab.paths.state_file.read_text())
    return [
        pid
        for host in state["hosts"]
        for pid in (host["tini_pid"], host["daemon_pid"], host["agent_pid"])
        if pid
    ]


def assert_nothing_left(lab: Lab, pids: list[int]) -> None:
    plan = plan_lab(lab.slot, 0)
    assert [pid for pid in pids if is_running(pid)] == []
    assert [ns for ns in list_netns() if ns.startswith(plan.netns_pattern())] == []
    assert not {plan.bridge(n) for n in Network} & set(links())
    routes = subprocess.run(["ip", "route", "show"], capture_output=True, text=True).stdout
    assert str(plan.mig_subnet) not in routes
    assert not lab.paths.state_file.exists()
    assert not lab.paths.hosts_dir.exists()
    assert not lab.paths.storage_dir.exists()
    assert lab.status().state == "down"


def test_down_after_crashes_leaves_no_process_namespace_or_bridge(spare_lab: Lab) -> None:
    lab = spare_lab
    lab.up(hosts=2)
    lab.create_vm("host1", "t-busy", memory_mib=64, dirty_mib=2)
    lab.create_vm("host2", "t-calm", memory_mib=32, disks=["shared:4M"])
    stray = lab.run_in_host("host2", ["sleep", "600"])  # something else running inside a host
    storage_daemon = storage.daemon_pid(lab.paths.storage_dir)
    assert storage_daemon is not None
    pids = [*lab_pids(lab), *qemu_pids(lab), stray.pid, storage_daemon]
    assert len(qemu_pids(lab)) == 2

    # libvirtd of host1 crashes: its QEMU keeps running, and `up` brings the daemon back
    crashed = lab.status().host("host1").daemon_pid
    assert crashed is not None
    os.kill(crashed, signal.SIGKILL)
    assert wait_until(lambda: lab.status().state == "degraded", 5)
    assert all(is_running(pid) for pid in qemu_pids(lab))
    repaired = lab.up(hosts=2)
    assert repaired.state == "up"
    assert repaired.host("host1").daemon_pid != crashed
    assert {vm.name for vm in lab.list_vms("host1")} == {"t-busy"}  # found its guest again

    # crash again, and lose the state file too, as if `up` itself had died half-way; then
    # `down` from a process that does not even know the slot (the bridges remember it)
    pids += lab_pids(lab)
    os.kill(lab.status().host("host1").daemon_pid or 0, signal.SIGKILL)
    lab.paths.state_file.unlink()

    Lab(lab.base_dir).down()
    stray.wait(timeout=5)
    assert_nothing_left(lab, pids)
    lab.down()  # again: nothing to do, no error


def test_up_grows_and_shrinks_the_lab(spare_lab: Lab) -> None:
    lab = spare_lab
    assert lab.up(hosts=2, vm_networks={"prod": ["host2"]}).host_names == ["host1", "host2"]
    plan = plan_lab(lab.slot, 2)
    assert "prod" in links(plan.host("host2").netns)
    assert "prod" not in links(plan.host("host1").netns)
    kept = lab.status().host("host1").daemon_pid
    grown = lab.up(hosts=3, mig_mbit=1000)
    assert grown.host_names == ["host1", "host2", "host3"]
    assert grown.host("host1").daemon_pid == kept
    assert grown.host("host3").link(Network.MIG).rate_mbit == 1000
    assert "prod" in links(plan.host("host2").netns)  # kept, and only there
    assert "prod" not in links(plan_lab(lab.slot, 3).host("host3").netns)
    host3 = grown.host("host3")

    shrunk = lab.up(hosts=2)
    assert shrunk.host_names == ["host1", "host2"]
    assert not is_running(host3.daemon_pid)
    assert host3.netns not in list_netns()
    assert shrunk.host("host1").link(Network.MIG).rate_mbit is None
    pids = lab_pids(lab)
    lab.down()
    assert_nothing_left(lab, pids)
