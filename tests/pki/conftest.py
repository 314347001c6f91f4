"""A fresh certificate authority per test, in the test's tmp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from miglane.pki import CertificateAuthority


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.init(tmp_path / "pki")
