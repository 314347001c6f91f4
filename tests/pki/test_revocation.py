"""Revoking by serial or name re-signs crl.pem; RevocationList sees it without a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from miglane.pki import CRL, CertificateAuthority, PkiError, RevocationList, Role


def test_revoke_by_serial_marks_it_in_the_list_and_the_crl(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    alice = authority.issue("alice", Role.ADMIN, tmp_path / "alice")
    revocations = RevocationList(authority.layout.crl, ca_pem=authority.ca_pem)
    assert not revocations.is_revoked(alice.serial)
    stamp = authority.layout.crl.stat().st_mtime_ns

    revoked = authority.revoke(alice.serial)

    assert [(r.serial, r.revoked) for r in revoked] == [(alice.serial, True)]
    assert authority.layout.crl.stat().st_mtime_ns != stamp
    assert revocations.is_revoked(alice.serial)
    assert [i.revoked for i in authority.list() if i.name == "alice"] == [True]


@pytest.mark.parametrize("as_text", [str.lower, str.upper, lambda hex_: "0x" + hex_])
def test_revoke_by_hex_serial(
    authority: CertificateAuthority, tmp_path: Path, as_text: Callable[[str], str]
) -> None:
    alice = authority.issue("alice", Role.ADMIN, tmp_path / "alice")
    assert [r.serial for r in authority.revoke(as_text(alice.serial_hex))] == [alice.serial]


def test_revoke_by_name_revokes_every_live_certificate_of_it(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    first = authority.issue("alice", Role.ADMIN, tmp_path / "alice")
    second = authority.issue("alice", Role.ADMIN, tmp_path / "alice")
    bob = authority.issue("bob", Role.ADMIN, tmp_path / "bob")
    revoked = authority.revoke("alice")
    assert {r.serial for r in revoked} == {first.serial, second.serial}
    revocations = RevocationList(authority.layout.crl)
    assert revocations.serials == {first.serial, second.serial}
    assert not revocations.is_revoked(bob.serial)
    with pytest.raises(PkiError, match="alice has no live certificate left"):
        authority.revoke("alice")
    with pytest.raises(PkiError, match=f"{first.serial_hex} is already revoked"):
        authority.revoke(first.serial)


def test_revoke_of_nothing_known_says_where_to_look(authority: CertificateAuthority) -> None:
    with pytest.raises(PkiError, match="`miglane pki list` shows them"):
        authority.revoke("nobody")


def test_revoke_refreshes_the_crl_copies_of_the_pki_directory(
    authority: CertificateAuthority,
) -> None:
    host = authority.issue_host("host-1", ["192.0.2.10"])
    authority.revoke(host.serial)
    for copy in (authority.layout.engine / CRL, authority.layout.host("host-1") / CRL):
        assert RevocationList(copy).is_revoked(host.serial), copy


def test_a_crl_from_another_ca_is_refused(authority: CertificateAuthority, tmp_path: Path) -> None:
    other = CertificateAuthority.init(tmp_path / "other")
    with pytest.raises(PkiError, match="not signed by our CA"):
        RevocationList(other.layout.crl, ca_pem=authority.ca_pem)


def test_a_missing_crl_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="no revocation list at"):
        RevocationList(tmp_path / CRL)
