"""Identities for tests and benchmarks: a person's credentials issued by an engine's CA into a
directory of the test's, and mutual-TLS channels to the engine as that person.

    channel = engine_channel(engine.address, issue_identity(engine.authority, "alice",
                                                            Role.OPERATOR, tmp / "alice"))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from miglane.grpctls import secure_channel, target_name_options
from miglane.pki import (
    ENGINE_NAME,
    LEAF_DAYS,
    CertificateAuthority,
    Credentials,
    Role,
    load_credentials,
)

# The name a test's all-powerful client goes by.
TEST_ADMIN = "test-admin"


def issue_identity(
    authority: CertificateAuthority,
    name: str,
    role: Role,
    directory: Path,
    *,
    days: int = LEAF_DAYS,
) -> Credentials:
    """`name` holding `role`, issued into `directory` (a re-issue when it is there already)."""
    authority.issue(name, role, directory, days=days)
    return load_credentials(directory)


def admin_credentials(authority: CertificateAuthority) -> Credentials:
    """The test admin's credentials, issued once per CA (kept beside it)."""
    directory = authority.pki_dir.parent / f"{TEST_ADMIN}-credentials"
    if (directory / "cert.pem").exists():
        return load_credentials(directory)
    return issue_identity(authority, TEST_ADMIN, Role.ADMIN, directory)


def engine_channel(
    address: str, credentials: Credentials, *, options: Sequence[tuple[str, Any]] = ()
) -> grpc.aio.Channel:
    """A grpc.aio channel to the engine at `address` as `credentials`, checking it is the
    engine (its certificate's DNS SAN), whatever address is dialled."""
    return secure_channel(address, credentials, server_name=ENGINE_NAME, options=options)


def sync_engine_channel(address: str, credentials: Credentials) -> grpc.Channel:
    """The same, for blocking clients."""
    return grpc.secure_channel(
        address,
        grpc.ssl_channel_credentials(credentials.ca_pem, credentials.key_pem, credentials.cert_pem),
        options=target_name_options(ENGINE_NAME),
    )
