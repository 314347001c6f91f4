"""The CA directory: init (idempotent), open, issue and issue-host layouts, re-issue."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from miglane.pki import (
    CA_CERT,
    CERT,
    CRL,
    ENGINE_NAME,
    HOST_LAYOUT,
    KEY,
    CertificateAuthority,
    PkiDir,
    PkiError,
    Role,
    load_credentials,
)
from miglane.pki.layout import KEY_DIR_MODE, KEY_MODE

CREDENTIALS = {CA_CERT, CERT, KEY, CRL}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def issued_by(authority: CertificateAuthority, cert_path: Path) -> None:
    ca = x509.load_pem_x509_certificate(authority.ca_pem)
    x509.load_pem_x509_certificate(cert_path.read_bytes()).verify_directly_issued_by(ca)


def test_init_creates_the_ca_the_crl_and_the_engine_identity(tmp_path: Path) -> None:
    authority = CertificateAuthority.init(tmp_path / "pki")
    layout = PkiDir(tmp_path / "pki")
    assert mode(layout.ca_key) == KEY_MODE and mode(layout.root) == KEY_DIR_MODE
    assert layout.crl.exists()
    ca = x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    engine = load_credentials(layout.engine)
    assert (engine.info.name, engine.info.role) == (ENGINE_NAME, Role.ENGINE)
    assert {p.name for p in layout.engine.iterdir()} == CREDENTIALS
    assert mode(layout.engine / KEY) == KEY_MODE and mode(layout.engine) == KEY_DIR_MODE
    issued_by(authority, layout.engine / CERT)
    assert [info.name for info in authority.list()] == [ENGINE_NAME]


def test_init_again_changes_nothing(tmp_path: Path) -> None:
    CertificateAuthority.init(tmp_path / "pki")
    layout = PkiDir(tmp_path / "pki")
    before = {p: p.read_bytes() for p in layout.root.rglob("*.pem")}
    CertificateAuthority.init(tmp_path / "pki")
    assert {p: p.read_bytes() for p in layout.root.rglob("*.pem")} == before


def test_init_with_a_new_address_reissues_the_engine_keeping_old_addresses(tmp_path: Path) -> None:
    CertificateAuthority.init(tmp_path / "pki", engine_addresses=["192.0.2.1"])
    ca_before = PkiDir(tmp_path / "pki").ca_cert.read_bytes()
    authority = CertificateAuthority.init(tmp_path / "pki", engine_addresses=["192.0.2.2"])
    sans = load_credentials(authority.layout.engine).info.sans
    assert {"192.0.2.1", "192.0.2.2"} <= set(sans)
    assert authority.ca_pem == ca_before
    assert len(authority.list()) == 2


def test_init_refuses_an_incomplete_ca(tmp_path: Path) -> None:
    CertificateAuthority.init(tmp_path / "pki")
    PkiDir(tmp_path / "pki").ca_key.unlink()
    with pytest.raises(PkiError, match=r"incomplete CA .*restore ca-key\.pem"):
        CertificateAuthority.init(tmp_path / "pki")


def test_open_without_a_ca_says_to_init(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="run `miglane pki init"):
        CertificateAuthority.open(tmp_path / "nothing")


def test_open_reads_the_same_ca(authority: CertificateAuthority) -> None:
    assert CertificateAuthority.open(authority.pki_dir).ca_pem == authority.ca_pem


def test_issue_writes_a_credentials_directory(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    out = tmp_path / "alice"
    info = authority.issue("alice", Role.OPERATOR, out, days=30)
    assert {p.name for p in out.iterdir()} == CREDENTIALS
    assert mode(out / KEY) == KEY_MODE and mode(out) == KEY_DIR_MODE
    issued_by(authority, out / CERT)
    credentials = load_credentials(out)
    assert credentials.info == info and credentials.crl_pem == authority.crl_pem()
    assert (info.not_after - info.not_before).days == 30
    assert (authority.layout.issued / f"{info.serial_hex}.pem").exists()


def test_issue_host_writes_the_libvirt_and_qemu_layout(authority: CertificateAuthority) -> None:
    info = authority.issue_host("host-1", ["192.0.2.10", "198.51.100.10"])
    out = authority.layout.host("host-1")
    assert {p.name for p in out.iterdir()} == CREDENTIALS | set(HOST_LAYOUT)
    for path in out.iterdir():
        assert not path.is_symlink()
        if "key" in path.name:
            assert mode(path) == KEY_MODE, path.name
        elif path.name != CRL and path.name != CA_CERT:
            issued_by(authority, path)
            assert path.read_bytes() == (out / CERT).read_bytes()
    assert info.sans == ("host-1", "192.0.2.10", "198.51.100.10")


def test_issue_host_to_another_directory(authority: CertificateAuthority, tmp_path: Path) -> None:
    authority.issue_host("host-2", ["192.0.2.11"], tmp_path / "elsewhere")
    assert set(HOST_LAYOUT) <= {p.name for p in (tmp_path / "elsewhere").iterdir()}
    assert not authority.layout.host("host-2").exists()


def test_issuing_a_name_again_reissues_and_the_old_stays_valid(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    first = authority.issue("alice", Role.ADMIN, tmp_path / "alice")
    second = authority.issue("alice", Role.ADMIN, tmp_path / "alice")
    assert first.serial != second.serial
    assert load_credentials(tmp_path / "alice").info.serial == second.serial
    alices = [info for info in authority.list() if info.name == "alice"]
    assert {i.serial for i in alices} == {first.serial, second.serial}
    assert not any(i.revoked for i in alices)


def test_a_live_name_keeps_its_role(authority: CertificateAuthority, tmp_path: Path) -> None:
    authority.issue("alice", Role.VIEWER, tmp_path / "alice")
    with pytest.raises(
        PkiError, match=r"already holds a live viewer certificate \(\w+\); revoke it first"
    ):
        authority.issue("alice", Role.ADMIN, tmp_path / "alice2")
    authority.revoke("alice")
    assert authority.issue("alice", Role.ADMIN, tmp_path / "alice2").role is Role.ADMIN


def test_issue_refuses_a_directory_holding_someone_else(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    authority.issue("alice", Role.VIEWER, tmp_path / "creds")
    with pytest.raises(PkiError, match="already holds the credentials of alice"):
        authority.issue("bob", Role.VIEWER, tmp_path / "creds")


@pytest.mark.parametrize(("days", "complaint"), [(0, "give at least 1"), (40000, "outlive its CA")])
def test_issue_refuses_impossible_lifetimes(
    authority: CertificateAuthority, tmp_path: Path, days: int, complaint: str
) -> None:
    with pytest.raises(PkiError, match=complaint):
        authority.issue("alice", Role.VIEWER, tmp_path / "a", days=days)


def test_load_credentials_refuses_a_foreign_or_mismatched_pair(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    other = CertificateAuthority.init(tmp_path / "other-pki")
    authority.issue("alice", Role.VIEWER, tmp_path / "alice")
    other.issue("bob", Role.VIEWER, tmp_path / "bob")
    (tmp_path / "alice" / CA_CERT).write_bytes(other.ca_pem)
    with pytest.raises(PkiError, match="was not issued by the CA"):
        load_credentials(tmp_path / "alice")
    (tmp_path / "bob" / KEY).write_bytes((authority.layout.engine / KEY).read_bytes())
    with pytest.raises(PkiError, match="does not belong to"):
        load_credentials(tmp_path / "bob")
    with pytest.raises(PkiError, match=r"cert\.pem is missing"):
        load_credentials(tmp_path)
