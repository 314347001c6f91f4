"""Client side: TLS channel credentials from a credentials directory, and the option that makes
the channel check the server's certificate against a name (a host's name, or `engine`) rather
than the address dialled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from miglane.pki import Credentials


def channel_credentials(credentials: Credentials) -> grpc.ChannelCredentials:
    """Trusts our CA only and presents the identity of `credentials`."""
    return grpc.ssl_channel_credentials(
        root_certificates=credentials.ca_pem,
        private_key=credentials.key_pem,
        certificate_chain=credentials.cert_pem,
    )


def target_name_options(server_name: str) -> tuple[tuple[str, Any], ...]:
    """The server must present a certificate for `server_name` (one of its DNS SANs), whatever
    address is dialled: `--engine 127.0.0.1:50051` still checks it reaches the engine."""
    return (("grpc.ssl_target_name_override", server_name),)


def secure_channel(
    target: str,
    credentials: Credentials,
    *,
    server_name: str,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """A grpc.aio channel to `target` over mutual TLS, checking the server is `server_name`."""
    return grpc.aio.secure_channel(
        target,
        channel_credentials(credentials),
        options=(*options, *target_name_options(server_name)),
    )
