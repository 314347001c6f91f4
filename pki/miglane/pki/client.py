"""Where a client (the CLI, the TUI) finds its credentials: `--credentials DIR`, else
$MIGLANE_CREDENTIALS, else $XDG_CONFIG_HOME/miglane/credentials (~/.config/... by default), and
the one-line error saying what to do when there are none."""

from __future__ import annotations

import os
from pathlib import Path

from miglane.pki.credentials import Credentials, load_credentials
from miglane.pki.errors import PkiError

CREDENTIALS_ENV = "MIGLANE_CREDENTIALS"


def default_credentials_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "miglane" / "credentials"


def client_credentials_dir(explicit: Path | str | None = None) -> Path:
    """The credentials directory a client uses: the one given, else the environment's, else
    the default."""
    chosen = explicit or os.environ.get(CREDENTIALS_ENV)
    return Path(chosen) if chosen else default_credentials_dir()


def load_client_credentials(explicit: Path | str | None = None) -> Credentials:
    """The client's credentials; PkiError in one line saying how to get some."""
    directory = client_credentials_dir(explicit)
    try:
        return load_credentials(directory)
    except PkiError as error:
        raise PkiError(
            f"no usable credentials in {directory} ({error}); ask an admin for some "
            f"(`miglane pki issue NAME --role admin --out {directory}`) or pass --credentials "
            f"DIR / set {CREDENTIALS_ENV}"
        ) from None
