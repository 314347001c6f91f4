"""The lab's hosts as an operator and the other test suites see them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import libvirt
import pytest

from miglane.lab import Lab, Network
from miglane.lab.network import netns_path
from miglane.lab.processes import netns_inode
from miglane.lab.state import load_state

pytestmark = pytest.mark.lab

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def test_status_describes_every_host(lab: Lab) -> None:
    status = lab.status()
    assert status.state == "up"
    assert status.host_names == ["host1", "host2", "host3"]
    for host in status.hosts:
        assert host.daemon_running
        assert host.daemon_pid is not None
        # the daemon runs inside the host's own network namespace
        assert os.stat(f"/proc/{host.daemon_pid}/ns/net").st_ino == netns_inode(
            netns_path(host.netns)
        )
        assert [link.nic for link in host.links] == ["mgmt0", "mig0"]
        assert all(link.up for link in host.links)
        assert host.peer_uri == f"qemu+tls://{host.mgmt_addr}/system"
        assert host.migration_uri == f"tcp://{host.mig_addr}"


def test_each_daemon_is_its_own_host(lab: Lab) -> None:
    uuids = set()
    status = lab.status()
    for host in status.hosts:
        # the unix socket from here, and the management address as peers use it (over TLS,
        # with another host's client certificate)
        other = next(h for h in status.hosts if h.name != host.name)
        for uri in (host.libvirt_uri, f"{host.peer_uri}?pkipath={other.client_pki_dir}"):
            conn = libvirt.open(uri)
            try:
                uuids.add((host.name, conn.getCapabilities().split("<uuid>")[1][:36]))
            finally:
                conn.close()
    assert len({uuid for _, uuid in uuids}) == 3


def test_a_host_sees_only_its_own_nics(lab: Lab) -> None:
    """Its two NICs, plus the bridges of guests' vNIC networks the lab put on it (other tests of
    the session's lab add some)."""
    host = lab.status().host("host2")
    state = load_state(lab.paths.state_file)
    bridges = [net for net, hosts in state.vm_networks.items() if "host2" in hosts]
    process = lab.run_in_host(
        "host2", ["ip", "-j", "-4", "addr", "show"], stdout=subprocess.PIPE, text=True
    )
    out, _ = process.communicate(timeout=10)
    addrs = {i["ifname"]: i["addr_info"][0]["local"] for i in json.loads(out) if i["addr_info"]}
    assert addrs == {"lo": "127.0.0.1", "mgmt0": host.mgmt_addr, "mig0": host.mig_addr}
    sysfs = lab.run_in_host("host2", ["ls", "/sys/class/net"], stdout=subprocess.PIPE, text=True)
    assert sorted(sysfs.communicate(timeout=10)[0].split()) == sorted(
        ["lo", "mgmt0", "mig0", *bridges]
    )


def test_this_machine_reaches_the_management_network_only(lab: Lab) -> None:
    status = lab.status()

    def addresses(device: str) -> list[str]:
        out = subprocess.run(
            ["ip", "-j", "addr", "show", "dev", device], capture_output=True, text=True, check=True
        ).stdout
        return [a["local"] for a in json.loads(out)[0]["addr_info"]]

    assert addresses(status.mgmt_bridge) == [status.root_mgmt_addr]
    assert addresses(status.mig_bridge) == []  # not even an IPv6 link-local address
    route = subprocess.run(
        ["ip", "-j", "route", "get", status.host("host1").mgmt_addr],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(route.stdout)[0]["dev"] == status.mgmt_bridge
    # unreachable, rather than sent out of the machine by the default route
    route = subprocess.run(
        ["ip", "route", "get", status.host("host1").mig_addr], capture_output=True, text=True
    )
    assert route.returncode != 0
    assert "no route to host" in route.stderr.lower()


def test_up_again_keeps_what_runs(lab: Lab) -> None:
    before = lab.status()
    namespaces = [netns_inode(netns_path(h.netns)) for h in before.hosts]
    after = lab.up(hosts=3)
    # Same daemons, same namespaces, same links: nothing was rebuilt or restarted.
    assert after == before
    assert [netns_inode(netns_path(h.netns)) for h in after.hosts] == namespaces


def test_vm_create_list_destroy(lab: Lab) -> None:
    lab.create_vm("host3", "t-list", memory_mib=32, persistent=True)
    try:
        vms = {(vm.host, vm.name): vm.state for vm in lab.list_vms()}
        assert vms[("host3", "t-list")] == "running"
        assert "miglane-guest: halted" in lab.guest_console("host3", "t-list")
    finally:
        lab.destroy_vm("host3", "t-list")
    assert ("host3", "t-list") not in {(vm.host, vm.name) for vm in lab.list_vms()}


def test_status_from_another_process(lab: Lab) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "miglane.cli.main",
            "lab",
            "status",
            "--json",
            "--base-dir",
            str(lab.base_dir),
            "--slot",
            str(lab.slot),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["state"] == "up"
    assert [h["name"] for h in data["hosts"]] == ["host1", "host2", "host3"]
    assert data["hosts"][0]["links"][1] == {
        "network": "mig",
        "nic": "mig0",
        "port": f"{lab.status().host('host1').links[1].port}",
        "addr": lab.status().host("host1").mig_addr,
        "up": True,
        "port_up": True,
        "nic_state": "UP",
        "rate_mbit": None,
    }


def test_unknown_host_and_network_are_clear_errors(lab: Lab) -> None:
    from miglane.lab import LabError

    with pytest.raises(
        LabError, match=r"no host 'host9' in this lab \(hosts: host1, host2, host3\)"
    ):
        lab.set_link("host9", Network.MIG, False)
    with pytest.raises(LabError, match="expected mgmt or mig"):
        lab.nic_counters("host1", "eth0")
