"""Table tests: attachments derived from NICs, and operational status from attachments."""

from __future__ import annotations

from dataclasses import replace

import pytest

from miglane.engine.domain.attachments import derive_attachments, operational_status
from miglane.engine.domain.model import Attachment, HostStatus, Network, Nic

MGMT = Network(id="n-mgmt", cluster_id="c", name="mgmt", subnet="10.0.1.0/24", required=True)
MIG = Network(id="n-mig", cluster_id="c", name="mig", subnet="10.0.2.0/24")
MIG6 = Network(id="n-mig6", cluster_id="c", name="mig6", subnet="fd00:2::/64")
NETWORKS = [MGMT, MIG, MIG6]


def nic(name: str, *addresses: str, up: bool = True, speed: int = 1000) -> Nic:
    return Nic(name=name, addresses=addresses, link_up=up, speed_mbps=speed, mtu=1500)


# Each row: NICs, then {network name: (nic, address, link_up, note fragment)}.
CASES = [
    pytest.param([], {}, id="no NICs"),
    pytest.param([nic("eth0", "192.168.0.5/24")], {}, id="address in no subnet"),
    pytest.param(
        [nic("mgmt0", "10.0.1.5/24"), nic("mig0", "10.0.2.5/24")],
        {"mgmt": ("mgmt0", "10.0.1.5", True, ""), "mig": ("mig0", "10.0.2.5", True, "")},
        id="one NIC per network",
    ),
    pytest.param(
        [nic("br0", "10.0.1.5/24", "10.0.2.5/24", "fd00:2::5/64")],
        {
            "mgmt": ("br0", "10.0.1.5", True, ""),
            "mig": ("br0", "10.0.2.5", True, ""),
            "mig6": ("br0", "fd00:2::5", True, ""),
        },
        id="one NIC with addresses on three networks",
    ),
    pytest.param(
        [nic("mig0", "10.0.2.9/24", "10.0.2.5/24")],
        {"mig": ("mig0", "10.0.2.5", True, "2 addresses are in 10.0.2.0/24: using mig0 10.0.2.5")},
        id="one NIC, two addresses in the subnet: lowest",
    ),
    pytest.param(
        [nic("eth2", "10.0.2.6/24"), nic("eth1", "10.0.2.7/24")],
        {"mig": ("eth1", "10.0.2.7", True, "first by NIC name")},
        id="two NICs on one subnet: by name, whatever the agent's order",
    ),
    pytest.param(
        [nic("eth1", "10.0.2.7/24", up=False), nic("eth2", "10.0.2.6/24")],
        {"mig": ("eth2", "10.0.2.6", True, "(its link is up); also eth1 10.0.2.7, link down")},
        id="two NICs on one subnet: link up wins",
    ),
    pytest.param(
        [nic("mig0", "10.0.2.5/24", up=False)],
        {"mig": ("mig0", "10.0.2.5", False, "")},
        id="link down is still attached (status says down)",
    ),
    pytest.param(
        [nic("mig0", "10.0.2.5/16")],
        {"mig": ("mig0", "10.0.2.5", True, "")},
        id="the NIC's own prefix does not matter: the address does",
    ),
    pytest.param(
        [nic("mig0", "10.0.2.5")],
        {"mig": ("mig0", "10.0.2.5", True, "")},
        id="address without prefix",
    ),
    pytest.param(
        [nic("junk", "not-an-ip", "", "10.0.2.300/24"), nic("mig0", "10.0.2.5/24")],
        {"mig": ("mig0", "10.0.2.5", True, "")},
        id="unreadable agent addresses are skipped",
    ),
    pytest.param(
        [nic("mig0", "fd00:2::1:5/64", "fd00:3::5/64")],
        {"mig6": ("mig0", "fd00:2::1:5", True, "")},
        id="IPv6",
    ),
]


@pytest.mark.parametrize(("nics", "expected"), CASES)
def test_derive_attachments(
    nics: list[Nic], expected: dict[str, tuple[str, str, bool, str]]
) -> None:
    attachments = derive_attachments(NETWORKS, nics)
    got = {a.network_name: (a.nic, a.address, a.link_up) for a in attachments}
    assert got == {name: row[:3] for name, row in expected.items()}
    for attachment in attachments:
        fragment = expected[attachment.network_name][3]
        assert fragment in attachment.note
        assert bool(attachment.note) == bool(fragment)
        assert attachment.mtu == 1500 and attachment.speed_mbps == 1000
    # In the order of the networks given.
    assert [a.network_id for a in attachments] == [n.id for n in NETWORKS if n.name in expected]


def test_derivation_does_not_depend_on_nic_order() -> None:
    nics = [
        nic("b", "10.0.2.6/24"),
        nic("a", "10.0.2.9/24", "10.0.2.8/24"),
        nic("c", "10.0.1.1/24"),
    ]
    first = derive_attachments(NETWORKS, nics)
    assert derive_attachments(NETWORKS, list(reversed(nics))) == first
    assert (first[1].nic, first[1].address) == ("a", "10.0.2.8")


def test_a_derivation_follows_what_attachments_show_and_not_the_byte_counters() -> None:
    # Derivations are kept per input: asking again after a change must see the change.
    before = nic("mig0", "10.0.2.5/24")
    [first] = derive_attachments([MIG], [before])
    counted = replace(before, rx_bytes=before.rx_bytes + 10**9, tx_bytes=before.tx_bytes + 7)
    assert derive_attachments([MIG], [counted]) == [first]
    [down] = derive_attachments([MIG], [replace(before, link_up=False)])
    assert (down.link_up, first.link_up) == (False, True)
    [faster] = derive_attachments([MIG], [replace(before, speed_mbps=25_000, mtu=9000)])
    assert (faster.speed_mbps, faster.mtu) == (25_000, 9000)
    [moved] = derive_attachments([MIG], [replace(before, addresses=("10.0.2.77/24",))])
    assert moved.address == "10.0.2.77"
    renamed = replace(MIG, name="mig-renamed")
    assert derive_attachments([renamed], [before])[0].network_name == "mig-renamed"
    assert derive_attachments([replace(MIG, subnet="10.0.3.0/24")], [before]) == []


def test_callers_get_a_list_of_their_own() -> None:
    nics = [nic("mig0", "10.0.2.5/24")]
    first = derive_attachments([MIG], nics)
    first.clear()
    assert len(derive_attachments([MIG], nics)) == 1


def attached(network: Network, *, up: bool = True) -> Attachment:
    return Attachment(network.id, network.name, "eth", "10.0.0.1", up)


REQUIRED_MIG = Network(id="n-mig", cluster_id="c", name="mig", subnet="10.0.2.0/24", required=True)


@pytest.mark.parametrize(
    ("networks", "attachments", "status", "reason"),
    [
        ([MGMT, MIG], [attached(MGMT), attached(MIG)], HostStatus.UP, ""),
        ([MGMT, MIG], [attached(MGMT)], HostStatus.UP, ""),  # mig is not required
        ([MGMT, MIG], [attached(MGMT), attached(MIG, up=False)], HostStatus.UP, ""),
        ([], [], HostStatus.UP, ""),
        (
            [MGMT, MIG],
            [],
            HostStatus.NON_OPERATIONAL,
            "required network 'mgmt' (10.0.1.0/24) is missing: no NIC has an address in it",
        ),
        (
            [MGMT, MIG],
            [attached(MGMT, up=False)],
            HostStatus.NON_OPERATIONAL,
            "required network 'mgmt' is down: the link of eth is down",
        ),
        (
            [MGMT, REQUIRED_MIG],
            [attached(REQUIRED_MIG, up=False)],
            HostStatus.NON_OPERATIONAL,
            "required network 'mgmt' (10.0.1.0/24) is missing: no NIC has an address in it; "
            "required network 'mig' is down: the link of eth is down",
        ),
    ],
)
def test_operational_status(
    networks: list[Network], attachments: list[Attachment], status: HostStatus, reason: str
) -> None:
    verdict = operational_status(networks, attachments)
    assert (verdict.status, verdict.reason) == (status, reason)
