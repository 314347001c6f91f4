"""A VM's disks and vNICs in the decisions: the destination filter's network rule and its
sentence, the local-disk policy's refusal, the disk copy asked of the agent, disk bytes in
the data a migration and an evacuation move."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from miglane.engine.domain.admission import AdmissionVerdict, admit_queued
from miglane.engine.domain.evacuation import plan_evacuation
from miglane.engine.domain.model import MIB, DiskKind, MigrationPolicy, VmDisk
from miglane.engine.domain.placement import (
    PlacementOutcome,
    RejectionKind,
    assess_destinations,
    choose_destination,
    manual_destination_rejections,
)
from miglane.engine.domain.vm_devices import (
    GIB,
    disk_copy,
    local_disk_refusal,
    missing_network_sentence,
    missing_networks,
    size_label,
)

from .builders import T0, cluster, host, migration, networks, vm

LOCAL = VmDisk("vda", DiskKind.LOCAL, GIB, "qcow2", "/var/lib/miglane/db1-vda.qcow2")
SHARED = VmDisk("vdb", DiskKind.SHARED, 4 * GIB, "raw", "nbd://10.0.0.250/db1-vdb")
ALLOWED = MigrationPolicy(local_disk_migration=True)


@pytest.mark.parametrize(
    ("host_name", "networks_missing", "expected"),
    [
        (
            "host3",
            ("prod-vlan",),
            "host3 has no bridge for network 'prod-vlan' that web1's NIC uses",
        ),
        (
            "host4",
            ("prod-vlan", "storage"),
            "host4 has no bridge for networks 'prod-vlan', 'storage' that web1's NICs use",
        ),
    ],
)
def test_missing_network_sentence(
    host_name: str, networks_missing: tuple[str, ...], expected: str
) -> None:
    assert missing_network_sentence(host_name, "web1", networks_missing) == expected


@pytest.mark.parametrize(
    ("bridges", "vm_networks", "missing"),
    [
        ((), (), ()),
        ((), ("prod-vlan",), ("prod-vlan",)),
        (("prod-vlan",), ("prod-vlan",), ()),
        (("prod-vlan",), ("prod-vlan", "storage"), ("storage",)),
        (("mig0", "mgmt0"), ("storage", "prod-vlan"), ("storage", "prod-vlan")),
    ],
)
def test_missing_networks(
    bridges: tuple[str, ...], vm_networks: tuple[str, ...], missing: tuple[str, ...]
) -> None:
    assert missing_networks(host(3, bridges=bridges).host, vm_networks) == missing


@pytest.mark.parametrize(
    ("size", "label"),
    [(0, "size unknown"), (512 * MIB, "512 MiB"), (GIB, "1.0 GiB"), (GIB * 5 // 2, "2.5 GiB")],
)
def test_size_label(size: int, label: str) -> None:
    assert size_label(size) == label


def test_vm_networks_each_once_and_local_disks() -> None:
    the_vm = vm("db1", disks=(LOCAL, SHARED), networks=("prod-vlan", "storage", "prod-vlan"))
    assert the_vm.networks == ("prod-vlan", "storage")
    assert the_vm.local_disks == (LOCAL,)
    assert the_vm.data_bytes == the_vm.memory_mib * MIB + LOCAL.size_bytes


# ---------------------------------------------------------------- the filter rule


WEB1 = vm("web1", networks=("prod-vlan",))
SOURCE = host(1, bridges=("prod-vlan",))


def test_scheduler_skips_a_host_without_the_vms_network() -> None:
    # host3 scores higher (more free memory) but lacks the bridge.
    hosts = [SOURCE, host(2, bridges=("prod-vlan",)), host(3, free_mib=128 * 1024)]
    decision = choose_destination(WEB1, SOURCE, hosts, networks())
    assert decision.outcome is PlacementOutcome.PLACED
    assert decision.destination is not None and decision.destination.host.name == "host2"


def test_no_host_with_the_network_is_no_host_and_says_why() -> None:
    hosts = [SOURCE, host(3)]
    decision = choose_destination(WEB1, SOURCE, hosts, networks())
    assert decision.outcome is PlacementOutcome.NO_HOST
    assert missing_network_sentence("host3", "web1", ("prod-vlan",)) in decision.reason


def test_candidates_show_the_missing_network() -> None:
    [*_, without] = assess_destinations(WEB1, SOURCE, [SOURCE, host(3)], networks())
    assert without.host.host.name == "host3" and not without.suitable
    assert [(r.kind, r.message) for r in without.rejections] == [
        (
            RejectionKind.VM_NETWORK,
            missing_network_sentence("host3", "web1", ("prod-vlan",)),
        )
    ]
    assert not without.manual_allowed


def test_manual_migration_to_a_host_without_the_network_is_refused() -> None:
    refused = manual_destination_rejections(WEB1, host(3), networks())
    assert [r.kind for r in refused] == [RejectionKind.VM_NETWORK]
    assert manual_destination_rejections(WEB1, host(2, bridges=("prod-vlan",)), networks()) == ()


def test_a_vm_without_vnics_goes_anywhere() -> None:
    plain = vm("plain")
    decision = choose_destination(plain, SOURCE, [SOURCE, host(3)], networks())
    assert decision.destination is not None and decision.destination.host.name == "host3"


# ---------------------------------------------------------------- local disks


def test_local_disk_refused_under_the_default_policy() -> None:
    db1 = vm("db1", disks=(LOCAL,))
    reason = local_disk_refusal(db1, cluster())
    assert reason == (
        "VM 'db1' has a local disk (vda 1.0 GiB) and cluster 'prod' does not allow copying "
        "local disks (policy local_disk_migration is off)"
    )
    assert local_disk_refusal(db1, cluster(policy=ALLOWED)) is None
    assert local_disk_refusal(vm("web1", disks=(SHARED,)), cluster()) is None


def test_disk_copy_goes_to_the_migration_address_when_allowed() -> None:
    uri = "tcp://10.0.2.2"
    db1 = vm("db1", disks=(LOCAL, SHARED))
    assert disk_copy(db1, cluster(policy=ALLOWED), uri) == (True, uri)
    assert disk_copy(db1, cluster(), uri) == (False, "")
    assert disk_copy(vm("web1", disks=(SHARED,)), cluster(policy=ALLOWED), uri) == (False, "")
    assert disk_copy(None, cluster(policy=ALLOWED), uri) == (False, "")


def test_queued_local_disk_migration_fails_when_the_policy_forbids_it() -> None:
    db1 = vm("db1", disks=(LOCAL,))
    queued = migration("m1", db1)
    hosts = [host(1), host(2)]
    [refused] = admit_queued([queued], [], hosts, {db1.id: db1}, networks(), now=T0)
    assert refused.verdict is AdmissionVerdict.FAIL
    assert refused.reason == local_disk_refusal(db1, cluster())
    [started] = admit_queued([queued], [], hosts, {db1.id: db1}, networks(policy=ALLOWED), now=T0)
    assert started.verdict is AdmissionVerdict.START


# ---------------------------------------------------------------- evacuation


def test_evacuation_moves_all_three_kinds_and_reports_what_it_cannot() -> None:
    source = host(1, bridges=("prod-vlan",))
    hosts = [source, host(2, bridges=("prod-vlan",)), host(3, free_mib=128 * 1024)]
    shared = vm("shared", disks=(SHARED,))
    local = vm("local", disks=(LOCAL,))
    web = vm("web", networks=("prod-vlan",))
    lonely = vm("lonely", networks=("dmz",))
    vms = [shared, local, web, lonely]

    plan = plan_evacuation(source, vms, hosts, networks(policy=ALLOWED))
    placed = {p.vm.name: p.destination_host_id for p in plan.planned}
    assert set(placed) == {"shared", "local", "web"}
    assert placed["web"] == "h2"  # the only host with its bridge, though host3 has more room
    [unplaced] = plan.unplaced
    assert unplaced.vm_name == "lonely"
    assert missing_network_sentence("host2", "lonely", ("dmz",)) in unplaced.reason
    assert missing_network_sentence("host3", "lonely", ("dmz",)) in unplaced.reason
    assert plan.data_bytes == sum(v.data_bytes for v in (shared, local, web))
    assert plan.data_bytes == 3 * 4096 * MIB + LOCAL.size_bytes

    forbidden = plan_evacuation(source, vms, hosts, networks())
    assert {p.vm.name for p in forbidden.planned} == {"shared", "web"}
    reasons = {u.vm_name: u.reason for u in forbidden.unplaced}
    assert reasons["local"] == local_disk_refusal(local, cluster())
    assert set(reasons) == {"local", "lonely"}


def test_evacuation_places_the_larger_data_first_among_equal_memory() -> None:
    source = host(1)
    big_disk = replace(LOCAL, size_bytes=20 * GIB)
    vms = [vm("small"), vm("disky", disks=(big_disk,))]
    plan = plan_evacuation(source, vms, [source, host(2)], networks(policy=ALLOWED))
    assert [p.vm.name for p in plan.planned] == ["disky", "small"]
    assert Counter(p.destination_host_id for p in plan.planned) == {"h2": 2}
