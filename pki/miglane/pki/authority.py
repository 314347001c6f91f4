"""CertificateAuthority: the CA directory's owner — creating it (with the engine's identity),
issuing and re-issuing identities, listing every certificate issued, revoking (re-signing
crl.pem). One process at a time changes a PKI directory (a lock file serializes them)."""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import functools
import ipaddress
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from miglane.pki.credentials import load_credentials, load_private_key, write_credentials
from miglane.pki.errors import PkiError
from miglane.pki.identities import (
    ENGINE_NAME,
    Address,
    CertificateInfo,
    Role,
    info_of_certificate,
    load_certificate,
    parse_role,
    serial_hex,
    validate_addresses,
    validate_name,
)
from miglane.pki.layout import (
    CERT,
    CRL,
    KEY_MODE,
    PkiDir,
    make_key_dir,
    write_private,
    write_public,
)
from miglane.pki.revocation import build_crl, crl_number, load_crl, revoked_serials
from miglane.pki.signing import (
    CA_DAYS,
    LEAF_DAYS,
    cert_pem,
    key_pem,
    new_key,
    self_signed_ca,
    signed_leaf,
)


# Issued certificates never change once written; issuing checks every earlier one for a
# clashing name, which would parse all of them each time (quadratic over a thousand hosts).
@functools.lru_cache(maxsize=1 << 16)
def _issued_certificate(path: str, mtime_ns: int, size: int) -> x509.Certificate:
    return load_certificate(Path(path).read_bytes(), path)


@functools.lru_cache(maxsize=1 << 16)
def _issued_info(path: str, mtime_ns: int, size: int, revoked: bool) -> CertificateInfo:
    return info_of_certificate(_issued_certificate(path, mtime_ns, size), revoked=revoked)


def _now() -> datetime:
    return datetime.now(UTC)


class CertificateAuthority:
    """Use `init` (create, or open a complete one) or `open`; not the constructor."""

    def __init__(
        self, layout: PkiDir, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> None:
        self.layout = layout
        self._certificate = certificate
        self._key = key

    @property
    def pki_dir(self) -> Path:
        return self.layout.root

    @property
    def ca_pem(self) -> bytes:
        return cert_pem(self._certificate)

    @property
    def not_after(self) -> datetime:
        return self._certificate.not_valid_after_utc

    # ------------------------------------------------------------------ creating, opening

    @classmethod
    def init(
        cls,
        pki_dir: Path | str,
        *,
        engine_addresses: Sequence[str] = (),
        days: int = CA_DAYS,
    ) -> CertificateAuthority:
        """Creates the CA (valid `days`), crl.pem and the engine's identity in pki_dir/engine.
        On a complete CA it changes nothing, except that the engine's identity is issued again
        when it is missing or lacks one of `engine_addresses`. A CA with its certificate but no
        key (or the reverse) is refused."""
        layout = PkiDir(Path(pki_dir))
        addresses = validate_addresses(engine_addresses)
        _check_days(days, "the CA's lifetime")
        make_key_dir(layout.root)
        with _locked(layout):
            has_cert, has_key = layout.ca_cert.exists(), layout.ca_key.exists()
            if has_cert != has_key:
                present, missing = (
                    (layout.ca_cert, layout.ca_key) if has_cert else (layout.ca_key, layout.ca_cert)
                )
                raise PkiError(
                    f"{layout.root} holds an incomplete CA ({present.name} without "
                    f"{missing.name}); restore {missing.name} or remove the directory and run "
                    "`miglane pki init` again"
                )
            if has_cert:
                authority = cls._read(layout)
            else:
                key = new_key()
                certificate = self_signed_ca(key, _now(), days)
                # Key first: a CA certificate on disk means its key is there too.
                write_private(layout.ca_key, key_pem(key))
                write_public(layout.ca_cert, cert_pem(certificate))
                authority = cls(layout, certificate, key)
            if not layout.crl.exists():
                authority._write_crl({}, number=1)
            current = authority._engine_sans()
            if current is None or not {str(a) for a in addresses} <= set(current):
                # Keep the addresses the engine already answers to, add the new ones.
                kept = validate_addresses(san for san in current or () if _is_address(san))
                wanted = (*kept, *(a for a in addresses if a not in kept))
                authority._issue(ENGINE_NAME, Role.ENGINE, layout.engine, LEAF_DAYS, wanted)
        return authority

    @classmethod
    def open(cls, pki_dir: Path | str) -> CertificateAuthority:
        layout = PkiDir(Path(pki_dir))
        if not (layout.ca_cert.exists() and layout.ca_key.exists() and layout.crl.exists()):
            raise PkiError(
                f"no certificate authority in {layout.root}; run `miglane pki init "
                f"--pki-dir {layout.root}` first"
            )
        return cls._read(layout)

    @classmethod
    def _read(cls, layout: PkiDir) -> CertificateAuthority:
        certificate = load_certificate(layout.ca_cert.read_bytes(), str(layout.ca_cert))
        key = load_private_key(layout.ca_key.read_bytes(), str(layout.ca_key))
        if key.public_key() != certificate.public_key():
            raise PkiError(
                f"{layout.ca_key} does not belong to {layout.ca_cert}; restore the pair from "
                "a backup"
            )
        return cls(layout, certificate, key)

    def _engine_sans(self) -> tuple[str, ...] | None:
        """The SANs of the engine's current identity; None when it has none usable."""
        try:
            credentials = load_credentials(self.layout.engine)
        except PkiError:
            return None
        if credentials.ca_pem != self.ca_pem:
            return None
        return credentials.info.sans

    # ------------------------------------------------------------------ issuing

    def issue(
        self,
        name: str,
        role: Role | str,
        out_dir: Path | str,
        *,
        days: int = LEAF_DAYS,
        addresses: Sequence[str] = (),
    ) -> CertificateInfo:
        """Issues `name` a new key and certificate into the credentials directory `out_dir`
        (a host also gets the libvirt/QEMU file names). Issuing an existing name again is a
        re-issue: a new key and serial replace the files, and the previous certificate stays
        valid until it expires or is revoked (`revoke(old_serial)`)."""
        role = parse_role(role)
        validate_name(name)
        parsed = validate_addresses(addresses)
        _check_days(days, "--days")
        with _locked(self.layout):
            self._check_name_free(name, role, Path(out_dir))
            return self._issue(name, role, Path(out_dir), days, parsed)

    def issue_host(
        self,
        name: str,
        addresses: Sequence[str],
        out_dir: Path | str | None = None,
        *,
        days: int = LEAF_DAYS,
    ) -> CertificateInfo:
        """A host's credentials: SANs its name and `addresses` (management first, migration
        next); `out_dir` defaults to pki_dir/hosts/<name>."""
        validate_name(name)
        target = Path(out_dir) if out_dir is not None else self.layout.host(name)
        return self.issue(name, Role.HOST, target, days=days, addresses=addresses)

    def _issue(
        self, name: str, role: Role, out_dir: Path, days: int, addresses: Sequence[Address]
    ) -> CertificateInfo:
        now = _now()
        if (self.not_after - now).days < days:
            raise PkiError(
                f"a certificate cannot outlive its CA (valid until {self.not_after:%Y-%m-%d}); "
                f"use --days {max((self.not_after - now).days, 0)} or less"
            )
        key = new_key()
        certificate = signed_leaf(
            self._certificate,
            self._key,
            key,
            name=name,
            role=role,
            addresses=addresses,
            now=now,
            days=days,
        )
        write_public(
            self.layout.issued / f"{serial_hex(certificate.serial_number)}.pem",
            cert_pem(certificate),
        )
        write_credentials(
            out_dir,
            ca_pem=self.ca_pem,
            cert_pem=cert_pem(certificate),
            key_pem=key_pem(key),
            crl_pem=self.crl_pem(),
            host_layout=role is Role.HOST,
        )
        return info_of_certificate(certificate)

    def _check_name_free(self, name: str, role: Role, out_dir: Path) -> None:
        now = _now()
        for info in self.list():
            live = not info.revoked and info.not_after > now
            if info.name == name and info.role is not role and live:
                raise PkiError(
                    f"{name} already holds a live {info.role.value} certificate "
                    f"({info.serial_hex}); revoke it first (`miglane pki revoke {name}`) "
                    f"or issue it again as a {info.role.value}"
                )
        existing = out_dir / CERT
        if existing.exists():
            try:
                holder = info_of_certificate(load_certificate(existing.read_bytes())).name
            except PkiError:
                holder = None
            if holder != name:
                raise PkiError(
                    f"{out_dir} already holds the credentials of {holder or 'someone else'}; "
                    "choose another output directory"
                )

    # ------------------------------------------------------------------ listing, revoking

    def list(self) -> builtins.list[CertificateInfo]:
        """Every certificate ever issued, by name then issue time."""
        revoked = self._revoked()
        infos = []
        for path in sorted(self.layout.issued.glob("*.pem")):
            status = path.stat()
            stamp = (str(path), status.st_mtime_ns, status.st_size)
            certificate = _issued_certificate(*stamp)
            infos.append(_issued_info(*stamp, certificate.serial_number in revoked))
        return sorted(infos, key=lambda info: (info.name, info.not_before, info.serial))

    def revoke(self, serial_or_name: int | str) -> builtins.list[CertificateInfo]:
        """Revokes one certificate (serial as an int or hex text) or every live certificate of
        an identity name, and re-signs crl.pem (and the copies in the PKI's own credentials
        directories). Returns the certificates revoked."""
        with _locked(self.layout):
            targets = self._revocation_targets(serial_or_name)
            revoked = self._revoked()
            now = _now()
            for info in targets:
                revoked[info.serial] = now
            number = crl_number(load_crl(self.crl_pem(), str(self.layout.crl))) + 1
            self._write_crl(revoked, number=number)
        return [_marked_revoked(info) for info in targets]

    def _revocation_targets(self, serial_or_name: int | str) -> builtins.list[CertificateInfo]:
        infos = self.list()
        serial = _as_serial(serial_or_name)
        by_serial = [info for info in infos if info.serial == serial]
        if by_serial:
            if by_serial[0].revoked:
                raise PkiError(f"certificate {by_serial[0].serial_hex} is already revoked")
            return by_serial
        now = _now()
        named = [info for info in infos if info.name == str(serial_or_name)]
        live = [info for info in named if not info.revoked and info.not_after > now]
        if live:
            return live
        if named:
            raise PkiError(f"{serial_or_name} has no live certificate left to revoke")
        raise PkiError(
            f"no certificate has the serial or name {serial_or_name}; `miglane pki list` shows them"
        )

    def crl_pem(self) -> bytes:
        return self.layout.crl.read_bytes()

    def _revoked(self) -> dict[int, datetime]:
        if not self.layout.crl.exists():
            return {}
        return revoked_serials(load_crl(self.crl_pem(), str(self.layout.crl)))

    def _write_crl(self, revoked: dict[int, datetime], *, number: int) -> None:
        crl = build_crl(self._certificate, self._key, revoked, number=number, now=_now())
        write_public(self.layout.crl, crl)
        copies = [self.layout.engine / CRL, *self.layout.hosts.glob(f"*/{CRL}")]
        for copy in copies:
            if copy.exists():
                write_public(copy, crl)


def _check_days(days: int, what: str) -> None:
    if days < 1:
        raise PkiError(f"{what} is {days} days; give at least 1")


def _as_serial(serial_or_name: int | str) -> int | None:
    if isinstance(serial_or_name, int):
        return serial_or_name
    try:
        return int(serial_or_name.lower().removeprefix("0x"), 16)
    except ValueError:
        return None


def _marked_revoked(info: CertificateInfo) -> CertificateInfo:
    return replace(info, revoked=True)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def _locked(layout: PkiDir) -> Iterator[None]:
    fd = os.open(layout.root / ".lock", os.O_RDWR | os.O_CREAT, KEY_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
