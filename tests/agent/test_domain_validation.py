"""Migration URIs, destination peers and the migrate request, as tables."""

import dataclasses

import pytest

from miglane.agent.domain.errors import InvalidArgument
from miglane.agent.domain.model import (
    MIB,
    DiskKind,
    DomainInfo,
    MigrateRequest,
    MigrationMode,
    MigrationOptions,
    VmDisk,
    VmState,
)
from miglane.agent.domain.validation import (
    COPY_LOCAL_DISKS_FIELD,
    DST_FIELD,
    MAX_BANDWIDTH_FIELD,
    MIGRATION_URI_FIELD,
    SAVE_PATH_FIELD,
    Destination,
    MigrationUri,
    check_local_disks,
    copied_disks,
    destination_for,
    parse_migration_uri,
    save_file_name,
    validate_migrate_request,
)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("tcp://10.0.2.5", MigrationUri("tcp", "10.0.2.5")),
        ("tcp://10.0.2.5:49152", MigrationUri("tcp", "10.0.2.5", 49152)),
        ("tcp://host-b.example.org", MigrationUri("tcp", "host-b.example.org")),
        ("TCP://hostb:1", MigrationUri("tcp", "hostb", 1)),
        ("tcp://[fd00::5]", MigrationUri("tcp", "fd00::5")),
        ("tcp://[fd00::5]:49152", MigrationUri("tcp", "fd00::5", 49152)),
    ],
)
def test_valid_migration_uris(uri: str, expected: MigrationUri) -> None:
    assert parse_migration_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("10.0.2.5", "no scheme"),
        ("udp://10.0.2.5", "not supported"),
        ("tls://10.0.2.5", "not supported"),
        ("unix:///run/x.sock", "not supported"),
        ("exec://cat", "not supported"),
        ("tcp://10.0.2.5?x=1", "no path"),
        ("rdma://10.0.2.5", "not supported"),
        ("tcp://", "no path"),
        ("tcp://10.0.2.5/x", "no path"),
        ("tcp://user@10.0.2.5", "no path"),
        ("tcp://10.0.2.5:0", "port"),
        ("tcp://10.0.2.5:65536", "port"),
        ("tcp://10.0.2.5:ab", "port"),
        ("tcp://fd00::5", "brackets"),
        ("tcp://[fd00::5", "unclosed"),
        ("tcp://[10.0.0.1]", "not an IPv6"),
        ("tcp://[fd00::5]x", "unexpected"),
        ("tcp://10.0.2", "neither"),
        ("tcp://-bad-.example", "neither"),
        ("tcp://under_score", "neither"),
    ],
)
def test_invalid_migration_uris(uri: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        parse_migration_uri(uri)


@pytest.mark.parametrize(
    ("dst", "expected"),
    [
        ("10.0.1.12", Destination("qemu+tls://10.0.1.12/system", "10.0.1.12")),
        ("10.0.1.12:16612", Destination("qemu+tls://10.0.1.12:16612/system", "10.0.1.12")),
        ("10.0.1.12:16514", Destination("qemu+tls://10.0.1.12/system", "10.0.1.12")),
        ("host-b", Destination("qemu+tls://host-b/system", "host-b")),
        (
            "host-b.example.org",
            Destination("qemu+tls://host-b.example.org/system", "host-b.example.org"),
        ),
        ("[fd00::12]", Destination("qemu+tls://[fd00::12]/system", "fd00::12")),
        ("[fd00::12]:1", Destination("qemu+tls://[fd00::12]:1/system", "fd00::12")),
        # what a destination's agent reports as its peer libvirt URI
        ("qemu+tls://host-b/system", Destination("qemu+tls://host-b/system", "host-b")),
        (
            "qemu+tls://10.0.1.12:16600/system",
            Destination("qemu+tls://10.0.1.12:16600/system", "10.0.1.12"),
        ),
    ],
)
def test_destinations(dst: str, expected: Destination) -> None:
    assert destination_for(dst) == expected


@pytest.mark.parametrize(
    "dst",
    [
        "",
        "http://x",
        "fd00::12",
        "a b",
        "qemu+tcp://10.0.1.12:16509/system",
        "qemu+unix:///system?socket=/run/x",
        "qemu+ssh://root@host-b/system",
        "qemu+tls://host-b/system?pkipath=/tmp/x",
        "qemu+tls://user@host-b/system",
        "qemu+tls://host-b/session",
        "test:///default",
        "host-b/system",
    ],
)
def test_bad_destinations(dst: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        destination_for(dst)
    assert refused.value.field == DST_FIELD


GOOD = MigrateRequest("m-1", "vm", dst="10.0.1.12", migration_uri="tcp://10.0.2.12")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"migration_id": ""}, "migration_id"),
        ({"migration_id": "a/b"}, "migration_id"),
        ({"vm_id": ""}, "vm_id"),
        ({"mode": None}, "target"),
        ({"max_bandwidth_mibps": 0}, MAX_BANDWIDTH_FIELD),
        ({"migration_uri": ""}, MIGRATION_URI_FIELD),
        ({"migration_uri": "udp://10.0.2.12"}, MIGRATION_URI_FIELD),
        ({"migration_uri": "tls://10.0.2.12"}, MIGRATION_URI_FIELD),
        ({"dst": ""}, DST_FIELD),
        ({"dst": "qemu+tcp://10.0.1.12:16509/system"}, DST_FIELD),
        ({"mode": MigrationMode.HIBERNATE, "save_path": "rel/x"}, SAVE_PATH_FIELD),
        ({"mode": MigrationMode.HIBERNATE, "save_path": "/root/owned_by_anyone"}, SAVE_PATH_FIELD),
    ],
)
def test_request_refusals_name_the_field(changes: dict, field: str) -> None:  # type: ignore[type-arg]
    import dataclasses

    with pytest.raises(InvalidArgument) as refused:
        validate_migrate_request(dataclasses.replace(GOOD, **changes))
    assert refused.value.field == field


def test_request_accepted() -> None:
    checked = validate_migrate_request(GOOD)
    assert checked.peer_uri == "qemu+tls://10.0.1.12/system"
    assert checked.tls_destination == "10.0.1.12"
    assert str(checked.migration_uri) == "tcp://10.0.2.12"
    hibernate = validate_migrate_request(MigrateRequest("h", "vm", mode=MigrationMode.HIBERNATE))
    assert hibernate.mode is MigrationMode.HIBERNATE and hibernate.peer_uri == ""


@pytest.mark.parametrize("vm_id", ["vm", "../../etc/passwd", "/root/x", "a\x00b", "."])
def test_save_file_names_stay_one_plain_file(vm_id: str) -> None:
    name = save_file_name(vm_id, "m-1")
    assert "/" not in name and "\x00" not in name and name.endswith(".m-1.save")
    assert not name.startswith(".")


@pytest.mark.parametrize(
    ("migration_uri", "disks_uri", "expected"),
    [
        ("tcp://10.1.0.3:49152", "", "tcp://10.1.0.3"),  # the migration address, any port
        ("tcp://[fd00::3]", "", "tcp://[fd00::3]"),
        ("tcp://10.1.0.3", "tcp://10.1.0.9:10809", "tcp://10.1.0.9:10809"),
    ],
)
def test_the_disk_copy_goes_to_the_migration_address_unless_told(
    migration_uri: str, disks_uri: str, expected: str
) -> None:
    request = MigrateRequest(
        "m1", "vm", dst="host2", migration_uri=migration_uri, disks_uri=disks_uri
    )
    assert str(validate_migrate_request(request).disks_uri) == expected


LOCAL = VmDisk("vda", DiskKind.LOCAL, 16 * MIB, "raw", "/var/lib/libvirt/images/web1-vda.raw")
SHARED = VmDisk("vdb", DiskKind.SHARED, 16 * MIB, "raw", "nbd://10.0.0.1:10809/web1-vdb")


def test_a_local_disk_needs_copy_local_disks() -> None:
    domain = DomainInfo("vm", "web1", VmState.RUNNING, 64, disks=(LOCAL, SHARED))
    request = MigrateRequest("m1", "vm", dst="host2", migration_uri="tcp://10.1.0.3")
    with pytest.raises(InvalidArgument) as refused:
        check_local_disks(domain, request)
    assert refused.value.field == COPY_LOCAL_DISKS_FIELD
    assert "web1" in str(refused.value) and LOCAL.source in str(refused.value)
    assert copied_disks(request, domain) == ()
    copying = dataclasses.replace(request, options=MigrationOptions(copy_local_disks=True))
    check_local_disks(domain, copying)
    assert copied_disks(copying, domain) == (LOCAL,)
    # shared disks alone, or a hibernation (saved on this host), need no copy
    check_local_disks(dataclasses.replace(domain, disks=(SHARED,)), request)
    check_local_disks(domain, dataclasses.replace(request, mode=MigrationMode.HIBERNATE))
