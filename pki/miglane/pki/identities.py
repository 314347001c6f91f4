"""Identities: the roles, how a name and role are written in a certificate (subject, SANs,
usages), CertificateInfo and reading an identity back from a PEM certificate."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from miglane.pki.errors import PkiError

ORGANIZATION = "Miglane"
ENGINE_NAME = "engine"
# What the engine's certificate answers to besides its addresses: clients on the engine's
# machine dial localhost; others may override the target name to "engine".
ENGINE_DNS_NAMES = (ENGINE_NAME, "localhost")
ENGINE_DEFAULT_ADDRESSES = ("127.0.0.1",)
PERSON_DNS_SUFFIX = ".user.miglane"
NAME_MAX = 63

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Role(Enum):
    """The kind of an identity, written as the subject's OU."""

    ENGINE = "engine"
    HOST = "host"
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


# People and scripts: client certificates only, no addresses.
PERSON_ROLES = (Role.ADMIN, Role.OPERATOR, Role.VIEWER)


@dataclass(frozen=True)
class CertificateInfo:
    """What an issued certificate says. `sans` lists the DNS names then the IP addresses, as
    text, in certificate order; times are timezone-aware UTC."""

    name: str
    role: Role
    serial: int
    not_before: datetime
    not_after: datetime
    sans: tuple[str, ...]
    fingerprint: str
    revoked: bool = False

    @property
    def serial_hex(self) -> str:
        return serial_hex(self.serial)


def serial_hex(serial: int) -> str:
    """How a serial is shown and named on disk (issued/<serial-hex>.pem)."""
    return format(serial, "x")


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_NAME_RULE = (
    f"1 to {NAME_MAX} letters, digits, '-' or '.', each dot-separated part starting and "
    "ending with a letter or digit"
)


def validate_name(name: str) -> str:
    """An identity name: DNS-label-like (a host may use a dotted host name)."""
    if not name:
        raise PkiError(f"the identity name is empty; give {_NAME_RULE}")
    if len(name) > NAME_MAX:
        raise PkiError(
            f"the identity name {name!r} is {len(name)} characters long; use at most {NAME_MAX}"
        )
    if not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise PkiError(f"{name!r} is not a valid identity name; use {_NAME_RULE}")
    return name


def validate_addresses(addresses: Iterable[str]) -> tuple[Address, ...]:
    """IP addresses for SANs, in the given order, duplicates dropped."""
    parsed: list[Address] = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            raise PkiError(
                f"{text!r} is not an IP address; give an IPv4 or IPv6 address such as "
                "192.0.2.10 (host names go in NAME, not --address)"
            ) from None
        if address not in parsed:
            parsed.append(address)
    return tuple(parsed)


def parse_role(text: str | Role) -> Role:
    if isinstance(text, Role):
        return text
    try:
        return Role(text)
    except ValueError:
        choices = ", ".join(role.value for role in Role)
        raise PkiError(f"{text!r} is not a role; use one of {choices}") from None


def subject_of(name: str, role: Role) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.value),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )


def alternative_names(
    name: str, role: Role, addresses: Sequence[Address]
) -> list[x509.GeneralName]:
    """The SANs of an identity. Engine: DNS engine and localhost, IP 127.0.0.1 and its extra
    addresses. Host: DNS its name, then its addresses (management first). People and scripts:
    DNS <name>.user.miglane and no address."""
    dns: list[str]
    ips: list[Address] = list(addresses)
    if role is Role.ENGINE:
        dns = [*ENGINE_DNS_NAMES]
        defaults = validate_addresses(ENGINE_DEFAULT_ADDRESSES)
        ips = [*defaults, *(a for a in ips if a not in defaults)]
    elif role is Role.HOST:
        if not ips:
            raise PkiError(
                f"host {name} needs its management address; add --address MGMT_ADDR "
                "(and --address MIGRATION_ADDR for its migration network)"
            )
        dns = [name]
    else:
        if ips:
            raise PkiError(
                f"{name} is a {role.value}: people and scripts get no addresses; drop --address"
            )
        dns = [f"{name}{PERSON_DNS_SUFFIX}"]
    return [*(x509.DNSName(d) for d in dns), *(x509.IPAddress(ip) for ip in ips)]


def extended_usages(role: Role) -> list[x509.ObjectIdentifier]:
    if role in PERSON_ROLES:
        return [ExtendedKeyUsageOID.CLIENT_AUTH]
    return [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def info_of_certificate(certificate: x509.Certificate, *, revoked: bool = False) -> CertificateInfo:
    name = _single(certificate, NameOID.COMMON_NAME, "name (CN)")
    role_text = _single(certificate, NameOID.ORGANIZATIONAL_UNIT_NAME, "role (OU)")
    try:
        role = Role(role_text)
    except ValueError:
        raise PkiError(
            f"the certificate of {name} carries the unknown role {role_text!r}; "
            "issue it again with `miglane pki issue`"
        ) from None
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = (
            *san.get_values_for_type(x509.DNSName),
            *(str(ip) for ip in san.get_values_for_type(x509.IPAddress)),
        )
    except x509.ExtensionNotFound:
        sans = ()
    return CertificateInfo(
        name=name,
        role=role,
        serial=certificate.serial_number,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        sans=tuple(sans),
        fingerprint=certificate.fingerprint(hashes.SHA256()).hex(),
        revoked=revoked,
    )


def identity_of_pem(cert_pem: bytes) -> CertificateInfo:
    """The identity a PEM certificate names: name from CN, role from OU. It does not check who
    signed it (TLS did, or `load_credentials` does) nor revocation (RevocationList does)."""
    return info_of_certificate(load_certificate(cert_pem))


def load_certificate(cert_pem: bytes, where: str = "the certificate") -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise PkiError(
            f"{where} is not a PEM certificate; issue it again with `miglane pki issue`"
        ) from None


def _single(certificate: x509.Certificate, oid: x509.ObjectIdentifier, what: str) -> str:
    values = certificate.subject.get_attributes_for_oid(oid)
    if len(values) != 1:
        raise PkiError(
            f"the certificate {certificate.subject.rfc4514_string()!r} has no single {what}; "
            "it was not issued by `miglane pki`"
        )
    value = values[0].value
    return value if isinstance(value, str) else value.decode()
