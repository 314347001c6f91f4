"""Migration URIs, destination peers and the migrate request, as tables."""

import pytest

from miglane.agent.domain.errors import InvalidArgument
from miglane.agent.domain.model import MigrateRequest, MigrationMode
from miglane.agent.domain.validation import (
    DST_FIELD,
    MAX_BANDWIDTH_FIELD,
    MIGRATION_URI_FIELD,
    SAVE_PATH_FIELD,
    MigrationUri,
    parse_migration_uri,
    peer_uri_for,
    validate_migrate_request,
)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("tcp://10.0.2.5", MigrationUri("tcp", "10.0.2.5")),
        ("tcp://10.0.2.5:49152", MigrationUri("tcp", "10.0.2.5", 49152)),
        ("tls://host-b.example.org", MigrationUri("tls", "host-b.example.org")),
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
        ("qemu+tcp://10.0.1.12:16509/system", "qemu+tcp://10.0.1.12:16509/system"),
        ("qemu+unix:///system?socket=/run/x", "qemu+unix:///system?socket=/run/x"),
        ("10.0.1.12", "qemu+tcp://10.0.1.12:16509/system"),
        ("10.0.1.12:16612", "qemu+tcp://10.0.1.12:16612/system"),
        ("host-b", "qemu+tcp://host-b:16509/system"),
        ("[fd00::12]", "qemu+tcp://[fd00::12]:16509/system"),
        ("[fd00::12]:1", "qemu+tcp://[fd00::12]:1/system"),
    ],
)
def test_peer_uris(dst: str, expected: str) -> None:
    assert peer_uri_for(dst) == expected


@pytest.mark.parametrize("dst", ["", "http://x", "fd00::12", "a b"])
def test_bad_destinations(dst: str) -> None:
    with pytest.raises(InvalidArgument):
        peer_uri_for(dst)


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
        ({"dst": ""}, DST_FIELD),
        ({"mode": MigrationMode.HIBERNATE}, SAVE_PATH_FIELD),
        ({"mode": MigrationMode.HIBERNATE, "save_path": "rel/x"}, SAVE_PATH_FIELD),
    ],
)
def test_request_refusals_name_the_field(changes: dict, field: str) -> None:  # type: ignore[type-arg]
    import dataclasses

    with pytest.raises(InvalidArgument) as refused:
        validate_migrate_request(dataclasses.replace(GOOD, **changes))
    assert refused.value.field == field


def test_request_accepted() -> None:
    checked = validate_migrate_request(GOOD)
    assert checked.peer_uri == "qemu+tcp://10.0.1.12:16509/system"
    assert str(checked.migration_uri) == "tcp://10.0.2.12"
    hibernate = validate_migrate_request(
        MigrateRequest("h", "vm", mode=MigrationMode.HIBERNATE, save_path="/var/x")
    )
    assert hibernate.save_path == "/var/x" and hibernate.peer_uri == ""
