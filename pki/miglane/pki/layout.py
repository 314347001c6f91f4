"""Where things live on disk: the CA directory (PkiDir), the file names of a credentials
directory (plus the libvirt/QEMU host layout), and writing them: keys 0600, key dirs 0700."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

# A credentials directory (what --credentials DIR points at).
CA_CERT = "ca-cert.pem"
CERT = "cert.pem"
KEY = "key.pem"
CRL = "crl.pem"
# The same host identity again in the names libvirt and QEMU look for (server and client use
# one certificate: its EKU holds both). Files, not symlinks: bind mounts and the qemu user's
# permissions must not depend on a link target.
SERVER_CERT = "server-cert.pem"
SERVER_KEY = "server-key.pem"
CLIENT_CERT = "client-cert.pem"
CLIENT_KEY = "client-key.pem"
HOST_LAYOUT = (CA_CERT, SERVER_CERT, SERVER_KEY, CLIENT_CERT, CLIENT_KEY)

KEY_MODE = 0o600
KEY_DIR_MODE = 0o700
PUBLIC_MODE = 0o644


@dataclass(frozen=True)
class PkiDir:
    """The CA directory: ca-cert.pem, ca-key.pem, crl.pem, issued/<serial-hex>.pem (every
    certificate ever issued), engine/ (the engine's credentials), hosts/<name>/."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / CA_CERT

    @property
    def ca_key(self) -> Path:
        return self.root / "ca-key.pem"

    @property
    def crl(self) -> Path:
        return self.root / CRL

    @property
    def issued(self) -> Path:
        return self.root / "issued"

    @property
    def engine(self) -> Path:
        return self.root / "engine"

    @property
    def hosts(self) -> Path:
        return self.root / "hosts"

    def host(self, name: str) -> Path:
        return self.hosts / name


def make_key_dir(directory: Path) -> None:
    """A directory that will hold private keys: created 0700 (an existing one is left as the
    operator made it)."""
    directory.mkdir(mode=KEY_DIR_MODE, parents=True, exist_ok=True)


def write_private(path: Path, data: bytes) -> None:
    """A private key: born 0600 in a temporary file beside it, then renamed over the old one, so
    no reader ever sees a partial key or a moment with looser permissions."""
    _write_atomically(path, data, KEY_MODE)


def write_public(path: Path, data: bytes) -> None:
    _write_atomically(path, data, PUBLIC_MODE)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
