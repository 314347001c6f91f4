"""Requests that carry the extremes of every integer field of a gRPC service, for the hostile-
client tests of engine and agent: one request per (method, field, extreme), the rest left empty
or filled by the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from miglane.v1.request_ranges import NEGATIVE_ALLOWED, STORABLE_MAX

# The extremes of each integer wire type.
EXTREMES: dict[int, tuple[int, ...]] = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_MAX_DEPTH = 3


@dataclass(frozen=True)
class ExtremeRequest:
    method: str
    field_path: str  # e.g. "policy.max_outgoing_per_host"
    value: int
    request: Message
    # Whether the engine must refuse it whatever the field means (beyond what it can store,
    # or negative where the contract gives no meaning to a negative number).
    out_of_range: bool
    server_streaming: bool


def extreme_requests(
    service: ServiceDescriptor, fill: Callable[[Message], None] = lambda _: None
) -> Iterator[ExtremeRequest]:
    """Every (method, integer field, extreme) of `service`; `fill` may set other fields (ids)
    first so that the request gets past the checks that do not concern the integer."""
    for method in service.methods:
        request_class = GetMessageClass(method.input_type)
        for path, field in _integer_fields(method.input_type, "", 0):
            for value in EXTREMES[field.type]:
                request = request_class()
                fill(request)
                _set(request, path.split("."), value)
                negative_refused = value < 0 and field.full_name not in NEGATIVE_ALLOWED
                yield ExtremeRequest(
                    method=method.name,
                    field_path=path,
                    value=value,
                    request=request,
                    out_of_range=value > STORABLE_MAX or negative_refused,
                    server_streaming=method.server_streaming,
                )


def _integer_fields(
    message: Descriptor, prefix: str, depth: int
) -> Iterator[tuple[str, FieldDescriptor]]:
    for field in message.fields:
        path = f"{prefix}{field.name}"
        if field.type in EXTREMES:
            yield path, field
        elif field.type == FieldDescriptor.TYPE_MESSAGE and depth < _MAX_DEPTH:
            child = field.message_type
            if child is not None and not child.GetOptions().map_entry:
                yield from _integer_fields(child, f"{path}.", depth + 1)


def _set(message: Message, path: list[str], value: int) -> None:
    field = message.DESCRIPTOR.fields_by_name[path[0]]
    repeated = bool(field.is_repeated)
    if len(path) == 1:
        if repeated:
            getattr(message, path[0]).append(value)
        else:
            setattr(message, path[0], value)
        return
    child = getattr(message, path[0]).add() if repeated else getattr(message, path[0])
    _set(child, path[1:], value)
