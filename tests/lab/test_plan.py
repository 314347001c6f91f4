"""The address plan: names and subnets of a lab, per slot (pure)."""

from __future__ import annotations

import ipaddress

import pytest

from miglane.lab.plan import MAX_HOSTS, MAX_SLOT, Network, host_index, plan_lab


def test_slot_zero_is_the_documented_layout() -> None:
    plan = plan_lab(0, 3)
    assert plan.bridge(Network.MGMT) == "mgl-mgmt"
    assert plan.bridge(Network.MIG) == "mgl-mig"
    assert str(plan.mgmt_subnet) == "10.231.1.0/24"
    assert str(plan.mig_subnet) == "10.231.2.0/24"
    assert plan.root_mgmt_addr == "10.231.1.1"
    assert [h.name for h in plan.hosts] == ["host1", "host2", "host3"]
    assert [h.netns for h in plan.hosts] == ["mgl-h1", "mgl-h2", "mgl-h3"]
    assert [h.mgmt_addr for h in plan.hosts] == ["10.231.1.11", "10.231.1.12", "10.231.1.13"]
    assert [h.mig_addr for h in plan.hosts] == ["10.231.2.11", "10.231.2.12", "10.231.2.13"]
    assert plan.hosts[0].veth(Network.MGMT) == "mgl-h1-mgmt"
    assert plan.hosts[0].veth(Network.MIG) == "mgl-h1-mig"


@pytest.mark.parametrize(
    ("slot", "prefix", "mgmt", "mig"),
    [
        (1, "mgl1", "10.231.3.0/24", "10.231.4.0/24"),
        (10, "mgl10", "10.231.21.0/24", "10.231.22.0/24"),
        (MAX_SLOT, f"mgl{MAX_SLOT}", "10.231.199.0/24", "10.231.200.0/24"),
    ],
)
def test_other_slots_use_their_own_names_and_subnets(
    slot: int, prefix: str, mgmt: str, mig: str
) -> None:
    plan = plan_lab(slot, 2)
    assert plan.prefix == prefix
    assert (str(plan.mgmt_subnet), str(plan.mig_subnet)) == (mgmt, mig)
    assert plan.hosts[1].netns == f"{prefix}-h2"


def test_every_address_lies_in_its_own_subnet_and_is_unique() -> None:
    plan = plan_lab(MAX_SLOT, MAX_HOSTS)
    mgmt = [ipaddress.ip_address(h.mgmt_addr) for h in plan.hosts]
    mig = [ipaddress.ip_address(h.mig_addr) for h in plan.hosts]
    assert all(addr in plan.mgmt_subnet for addr in mgmt)
    assert all(addr in plan.mig_subnet for addr in mig)
    assert len(set(mgmt)) == len(set(mig)) == MAX_HOSTS
    assert ipaddress.ip_address(plan.root_mgmt_addr) not in mgmt
    assert all(addr in ipaddress.ip_network("10.231.0.0/16") for addr in mgmt + mig)


def test_interface_names_fit_the_kernel_limit() -> None:
    plan = plan_lab(MAX_SLOT, MAX_HOSTS)
    names = [plan.bridge(n) for n in Network] + [h.veth(n) for h in plan.hosts for n in Network]
    assert max(len(name) for name in names) <= 15


def test_host_uuids_differ_between_hosts_and_slots_and_are_stable() -> None:
    uuids = [h.host_uuid for slot in (0, 1) for h in plan_lab(slot, 4).hosts]
    assert len(set(uuids)) == len(uuids)
    assert plan_lab(0, 4).hosts[2].host_uuid == plan_lab(0, 3).hosts[2].host_uuid


@pytest.mark.parametrize(("slot", "hosts"), [(-1, 2), (MAX_SLOT + 1, 2), (0, MAX_HOSTS + 1)])
def test_out_of_range_is_refused(slot: int, hosts: int) -> None:
    with pytest.raises(ValueError):
        plan_lab(slot, hosts)


def test_unknown_host_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="host1, host2"):
        plan_lab(0, 2).host("host9")


@pytest.mark.parametrize(
    ("text", "network"),
    [("mgmt", Network.MGMT), ("mgmt0", Network.MGMT), ("mig", Network.MIG), ("mig0", Network.MIG)],
)
def test_network_parses_network_and_nic_names(text: str, network: Network) -> None:
    assert Network.parse(text) is network


def test_network_rejects_other_names() -> None:
    with pytest.raises(ValueError, match="expected mgmt or mig"):
        Network.parse("eth0")


@pytest.mark.parametrize(("name", "index"), [("host1", 1), ("host12", 12)])
def test_host_index(name: str, index: int) -> None:
    assert host_index(name) == index


@pytest.mark.parametrize("name", ["host", "host0", "hostx", "node1", "host-1"])
def test_host_index_rejects_other_names(name: str) -> None:
    with pytest.raises(ValueError):
        host_index(name)
