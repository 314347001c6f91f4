"""Reading the `google.rpc` error details the engine and the agent attach to a failed call:
the `ErrorInfo` reason (and metadata) a client branches on, and the `BadRequest` field
violations of an INVALID_ARGUMENT. Hand-written; the rest of this package is generated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.rpc import error_details_pb2, status_pb2

# The trailing-metadata key gRPC carries a google.rpc.Status in.
STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class ErrorDetails:
    """What a failed call said besides its code and message; empty when it said nothing."""

    reason: str = ""
    domain: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    # (field path, description) for each BadRequest field violation.
    field_violations: tuple[tuple[str, str], ...] = ()


def error_details(trailing_metadata: Iterable[Any] | None) -> ErrorDetails:
    """The details in a failed call's trailing metadata (`error.trailing_metadata()` of a
    `grpc.RpcError` or `grpc.aio.AioRpcError`)."""
    for key, value in trailing_metadata or ():
        if key != STATUS_DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        found_info = False
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                detail.Unpack(info)
                found_info = True
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                detail.Unpack(bad)
        return ErrorDetails(
            reason=info.reason if found_info else "",
            domain=info.domain,
            metadata=dict(info.metadata),
            field_violations=tuple((v.field, v.description) for v in bad.field_violations),
        )
    return ErrorDetails()
