"""Revocation: building and signing the CRL, reading its serials, and RevocationList, the
reader a server keeps to refuse revoked serials (it reloads crl.pem when the file changes)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from miglane.pki.errors import PkiError
from miglane.pki.identities import load_certificate


def build_crl(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    revoked: Mapping[int, datetime],
    *,
    number: int,
    now: datetime,
) -> bytes:
    """A CRL signed by the CA listing `revoked` (serial -> when). It changes only when a revoke
    re-signs it, so it stays valid as long as the CA (next update = the CA's not-after)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(ca_cert.not_valid_after_utc)
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for serial, when in sorted(revoked.items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    return crl.public_bytes(Encoding.PEM)


def load_crl(crl_pem: bytes, where: str = "the CRL") -> x509.CertificateRevocationList:
    try:
        return x509.load_pem_x509_crl(crl_pem)
    except ValueError:
        raise PkiError(
            f"{where} is not a PEM certificate revocation list; copy crl.pem from the PKI "
            "directory again"
        ) from None


def revoked_serials(crl: x509.CertificateRevocationList) -> dict[int, datetime]:
    return {entry.serial_number: entry.revocation_date_utc for entry in crl}


def crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return 0


class RevocationList:
    """The revoked serials of a crl.pem, re-read whenever the file changes (mtime, size or
    inode), so a revoke takes effect at the next check, without a restart. With `ca_pem`, a
    CRL not signed by that CA is refused. If the file vanishes later, the last list read
    stays in force."""

    def __init__(self, path: Path, *, ca_pem: bytes | None = None) -> None:
        self.path = Path(path)
        self._ca = load_certificate(ca_pem, "the CA certificate") if ca_pem else None
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._serials: frozenset[int] = frozenset()
        if not self.path.exists():
            raise PkiError(
                f"no revocation list at {self.path}; copy crl.pem from the PKI directory "
                "(`miglane pki init` creates it)"
            )
        self._reload_if_changed()

    def is_revoked(self, serial: int) -> bool:
        self._reload_if_changed()
        return serial in self._serials

    @property
    def serials(self) -> frozenset[int]:
        self._reload_if_changed()
        return self._serials

    def _reload_if_changed(self) -> None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return
        stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
        with self._lock:
            if stamp == self._stamp:
                return
            crl = load_crl(self.path.read_bytes(), str(self.path))
            if self._ca is not None:
                public_key = self._ca.public_key()
                if not isinstance(public_key, ec.EllipticCurvePublicKey) or not (
                    crl.is_signature_valid(public_key)
                ):
                    raise PkiError(
                        f"the revocation list {self.path} is not signed by our CA; copy "
                        "crl.pem from the PKI directory again"
                    )
            self._serials = frozenset(revoked_serials(crl))
            self._stamp = stamp
