"""The range every integer in a request must fall in before the engine looks at it.

Protobuf lets a client send any value its wire type holds: 2**64 - 1 in a uint64, -2**31 in an
int32. The engine keeps integers in 64-bit signed columns and compares them with Python ints, so
a uint64 above 2**63 - 1 would fail deep in the store (an INTERNAL error, and possibly a
half-done request). Every request is walked once, on the way in, and any integer outside what
the engine can hold, or negative where the contract has no meaning for a negative number, is
refused with INVALID_ARGUMENT naming the field — before anything is read or written. Engine and
agent both apply it to every request. Field-specific bounds (a bandwidth, a percentage) stay with
the rules that own them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

# What SQLite's INTEGER and PostgreSQL's BIGINT hold.
STORABLE_MAX = 2**63 - 1

_SIGNED_TYPES = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
}
_UNSIGNED_TYPES = {
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64,
}
# Signed fields of the contract where a negative number means something; every other signed
# field (page sizes, counts) is a quantity and must not be negative.
NEGATIVE_ALLOWED: frozenset[str] = frozenset(
    {
        # google.protobuf.Timestamp / Duration carry signed seconds and nanos by design.
        "google.protobuf.Timestamp.seconds",
        "google.protobuf.Timestamp.nanos",
        "google.protobuf.Duration.seconds",
        "google.protobuf.Duration.nanos",
    }
)


@dataclass(frozen=True)
class RangeProblem:
    field: str  # its path in the request, e.g. "policy.max_outgoing_per_host"
    problem: str


def integer_range_problem(request: Message) -> RangeProblem | None:
    """The first integer of `request` out of range, or None."""
    for path, full_name, value, signed in _integers(request, ""):
        if value > STORABLE_MAX:
            return RangeProblem(path, f"{value} is too large (at most {STORABLE_MAX})")
        if value < 0 and signed and full_name not in NEGATIVE_ALLOWED:
            return RangeProblem(path, f"{value} is negative; use 0 or a positive number")
    return None


def _integers(message: Message, prefix: str) -> Iterator[tuple[str, str, int, bool]]:
    """(field path, field full name, value, signed) of every integer set in `message`."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        values = list(value) if _is_repeated(field) else [value]
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if _is_map(field):
                yield from _map_integers(field, value, path)
                continue
            for index, item in enumerate(values):
                suffix = f"[{index}]" if _is_repeated(field) else ""
                yield from _integers(item, f"{path}{suffix}.")
        elif field.type in _SIGNED_TYPES or field.type in _UNSIGNED_TYPES:
            for item in values:
                yield path, field.full_name, int(item), field.type in _SIGNED_TYPES


def _map_integers(
    field: FieldDescriptor, value: object, path: str
) -> Iterator[tuple[str, str, int, bool]]:
    entry = field.message_type
    assert entry is not None  # a map field's entry type
    value_field = entry.fields_by_name["value"]
    for key, item in dict(value).items():  # type: ignore[call-overload]
        item_path = f"{path}[{key!r}]"
        if value_field.type == FieldDescriptor.TYPE_MESSAGE:
            yield from _integers(item, f"{item_path}.")
        elif value_field.type in _SIGNED_TYPES or value_field.type in _UNSIGNED_TYPES:
            yield item_path, value_field.full_name, int(item), value_field.type in _SIGNED_TYPES


def _is_map(field: FieldDescriptor) -> bool:
    entry = field.message_type
    return entry is not None and bool(entry.GetOptions().map_entry)


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)
