"""How a name and role are written in a certificate, and read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from miglane.pki import (
    ENGINE_NAME,
    CertificateAuthority,
    PkiError,
    Role,
    identity_of_pem,
    load_credentials,
    validate_addresses,
    validate_name,
)
from miglane.pki.identities import (
    ENGINE_DEFAULT_ADDRESSES,
    ENGINE_DNS_NAMES,
    ORGANIZATION,
    PERSON_DNS_SUFFIX,
)

BOTH = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
CLIENT = [ExtendedKeyUsageOID.CLIENT_AUTH]

CASES = [
    # (name, role, addresses, expected SANs, expected EKU)
    ("alice", Role.ADMIN, (), (f"alice{PERSON_DNS_SUFFIX}",), CLIENT),
    ("ops-bot", Role.OPERATOR, (), (f"ops-bot{PERSON_DNS_SUFFIX}",), CLIENT),
    ("grafana", Role.VIEWER, (), (f"grafana{PERSON_DNS_SUFFIX}",), CLIENT),
    (
        "host-1",
        Role.HOST,
        ("192.0.2.1", "198.51.100.1"),
        ("host-1", "192.0.2.1", "198.51.100.1"),
        BOTH,
    ),
    ("node1.example.org", Role.HOST, ("2001:db8::1",), ("node1.example.org", "2001:db8::1"), BOTH),
    (
        ENGINE_NAME,
        Role.ENGINE,
        ("192.0.2.9",),
        (*ENGINE_DNS_NAMES, *ENGINE_DEFAULT_ADDRESSES, "192.0.2.9"),
        BOTH,
    ),
]


@pytest.mark.parametrize(("name", "role", "addresses", "sans", "eku"), CASES)
def test_a_certificate_says_name_role_and_sans(
    authority: CertificateAuthority,
    tmp_path: Path,
    name: str,
    role: Role,
    addresses: tuple[str, ...],
    sans: tuple[str, ...],
    eku: list[x509.ObjectIdentifier],
) -> None:
    out = tmp_path / "out"
    issued = authority.issue(name, role, out, addresses=addresses)
    pem = load_credentials(out).cert_pem
    certificate = x509.load_pem_x509_certificate(pem)

    def subject(oid: x509.ObjectIdentifier) -> object:
        return certificate.subject.get_attributes_for_oid(oid)[0].value

    assert subject(NameOID.COMMON_NAME) == name
    assert subject(NameOID.ORGANIZATIONAL_UNIT_NAME) == role.value
    assert subject(NameOID.ORGANIZATION_NAME) == ORGANIZATION
    assert list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == eku
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_agreement and usage.key_encipherment
    assert not usage.key_cert_sign
    read_back = identity_of_pem(pem)
    assert read_back == issued
    assert (read_back.name, read_back.role, read_back.sans) == (name, role, sans)
    assert read_back.serial == certificate.serial_number and not read_back.revoked


def test_people_get_no_addresses_and_hosts_need_one(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    with pytest.raises(PkiError, match="people and scripts get no addresses"):
        authority.issue("alice", Role.ADMIN, tmp_path / "a", addresses=["192.0.2.1"])
    with pytest.raises(PkiError, match="needs its management address"):
        authority.issue_host("host-1", [])


@pytest.mark.parametrize("name", ["a", "host-1", "node1.example.org", "x" * 63, "A9"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("", "is empty"),
        ("x" * 64, "64 characters long"),
        ("-host", "not a valid identity name"),
        ("host-", "not a valid identity name"),
        ("bad_name", "not a valid identity name"),
        ("a..b", "not a valid identity name"),
        ("a b", "not a valid identity name"),
    ],
)
def test_invalid_names_say_what_to_fix(name: str, complaint: str) -> None:
    with pytest.raises(PkiError, match=complaint):
        validate_name(name)


def test_addresses_parse_in_order_without_duplicates() -> None:
    parsed = validate_addresses(["192.0.2.1", "2001:db8::1", "192.0.2.1"])
    assert [str(a) for a in parsed] == ["192.0.2.1", "2001:db8::1"]
    with pytest.raises(PkiError, match="not an IP address"):
        validate_addresses(["host-1"])


def test_unknown_role_text_is_refused(authority: CertificateAuthority, tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="is not a role; use one of"):
        authority.issue("alice", "superuser", tmp_path / "a")


def test_a_certificate_without_a_role_is_not_an_identity(authority: CertificateAuthority) -> None:
    # The CA's own certificate has a CN but no OU.
    with pytest.raises(PkiError, match=r"no single role \(OU\)"):
        identity_of_pem(authority.ca_pem)
