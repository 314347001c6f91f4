"""Credentials directories: writing one (plus the libvirt/QEMU host layout) and loading one
back as Credentials, checked: the key matches the certificate, the CA signed it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from miglane.pki.errors import PkiError
from miglane.pki.identities import CertificateInfo, info_of_certificate, load_certificate
from miglane.pki.layout import (
    CA_CERT,
    CERT,
    CLIENT_CERT,
    CLIENT_KEY,
    CRL,
    KEY,
    SERVER_CERT,
    SERVER_KEY,
    make_key_dir,
    write_private,
    write_public,
)


@dataclass(frozen=True)
class Credentials:
    """One identity's files, as PEM bytes: what a TLS server or channel is built from."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    info: CertificateInfo
    crl_pem: bytes | None
    directory: Path


def write_credentials(
    directory: Path,
    *,
    ca_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
    crl_pem: bytes,
    host_layout: bool = False,
) -> None:
    """Writes (or replaces) a credentials directory. The key goes first and the certificate
    after it, so a reader that reloads on the certificate's change finds the matching key."""
    make_key_dir(directory)
    write_public(directory / CA_CERT, ca_pem)
    write_public(directory / CRL, crl_pem)
    write_private(directory / KEY, key_pem)
    write_public(directory / CERT, cert_pem)
    if host_layout:
        write_private(directory / SERVER_KEY, key_pem)
        write_private(directory / CLIENT_KEY, key_pem)
        write_public(directory / SERVER_CERT, cert_pem)
        write_public(directory / CLIENT_CERT, cert_pem)


def credential_files(directory: Path) -> tuple[Path, Path, Path]:
    """The files a server's reload watches: ca-cert.pem, cert.pem, key.pem."""
    directory = Path(directory)
    return directory / CA_CERT, directory / CERT, directory / KEY


def load_credentials(directory: Path | str) -> Credentials:
    directory = Path(directory)
    if not directory.is_dir():
        raise PkiError(
            f"no credentials directory at {directory}; give --credentials DIR (or "
            "MIGLANE_CREDENTIALS) naming a directory made by `miglane pki issue`"
        )
    ca_pem, cert_pem, key_pem = (_read(path) for path in credential_files(directory))
    crl_path = directory / CRL
    crl_pem = crl_path.read_bytes() if crl_path.exists() else None
    ca = load_certificate(ca_pem, str(directory / CA_CERT))
    certificate = load_certificate(cert_pem, str(directory / CERT))
    _check_key_matches(certificate, key_pem, directory)
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise PkiError(
            f"{directory / CERT} was not issued by the CA in {directory / CA_CERT}; "
            "issue the credentials again from the same PKI directory"
        ) from None
    return Credentials(
        ca_pem=ca_pem,
        cert_pem=cert_pem,
        key_pem=key_pem,
        info=info_of_certificate(certificate),
        crl_pem=crl_pem,
        directory=directory,
    )


def load_private_key(key_pem: bytes, where: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise PkiError(
            f"{where} is not an unencrypted PEM private key; issue the credentials again"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{where} is not an ECDSA key; issue the credentials again")
    return key


def _check_key_matches(certificate: x509.Certificate, key_pem: bytes, directory: Path) -> None:
    key = load_private_key(key_pem, str(directory / KEY))
    if key.public_key() != certificate.public_key():
        raise PkiError(
            f"{directory / KEY} does not belong to {directory / CERT}; issue the credentials "
            "again (a re-issue replaces both)"
        )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PkiError(
            f"{path} is missing; a credentials directory holds {CA_CERT}, {CERT} and {KEY} "
            "(issue them with `miglane pki issue`)"
        ) from None
    except PermissionError:
        raise PkiError(f"{path} is not readable by this user; fix its owner or mode") from None
