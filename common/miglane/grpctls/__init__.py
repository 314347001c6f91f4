"""gRPC over Miglane's PKI, shared by the engine, the agent, the CLI and the TUI: channel
credentials from a credentials directory, server credentials that pick up a re-issued identity
without a restart, and `CallerCheck`, the interceptor that names the caller of every call from
its certificate, refuses revoked ones and lets the service's own rule authorize it."""

from miglane.grpctls.channels import (
    channel_credentials,
    secure_channel,
    target_name_options,
)
from miglane.grpctls.identity import (
    ANONYMOUS,
    CallerCheck,
    Refusal,
    ServiceGate,
    guarded,
    identity_of_certificate,
    peer_identity,
    rpc_name,
)
from miglane.grpctls.server import ReloadingServerCredentials

__all__ = [
    "ANONYMOUS",
    "CallerCheck",
    "Refusal",
    "ReloadingServerCredentials",
    "ServiceGate",
    "channel_credentials",
    "guarded",
    "identity_of_certificate",
    "peer_identity",
    "rpc_name",
    "secure_channel",
    "target_name_options",
]
