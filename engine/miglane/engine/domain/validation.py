"""Field validation: each function returns the normalized value or raises InvalidArgument
naming the field and what is wrong with it."""

from __future__ import annotations

import ipaddress
import re

from miglane.engine.domain.errors import InvalidArgument, shown
from miglane.engine.domain.model import (
    BandwidthMode,
    MigrationPolicy,
)

NAME_MAX = 64
ID_MAX = 128
DESCRIPTION_MAX = 1024
ADDRESS_MAX = 255
QOS_MBPS_MAX = 10_000_000  # 10 Tbit/s: anything above is a typo

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_NAME_RULE = f"1 to {NAME_MAX} letters, digits, '.', '_' or '-', starting with a letter or digit"
# RFC 1123 host names: labels of letters, digits and inner hyphens.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def validate_name(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument(field, f"is empty; give {_NAME_RULE}")
    if len(value) > NAME_MAX:
        raise InvalidArgument(
            field, f"is {len(value)} characters long; at most {NAME_MAX} are allowed"
        )
    if not _NAME.fullmatch(value):
        raise InvalidArgument(field, f"{shown(value)} is not a valid name; use {_NAME_RULE}")
    return value


def validate_id(field: str, value: str, kind: str) -> str:
    """An id the client passes back. Its shape is the engine's business: only emptiness and
    absurd lengths are refused here; the lookup says NOT_FOUND for the rest."""
    if not value:
        raise InvalidArgument(field, f"is empty; give the id of a {kind}")
    if len(value) > ID_MAX:
        raise InvalidArgument(
            field, f"is {len(value)} characters long; {kind} ids are at most {ID_MAX}"
        )
    return value


def validate_optional_id(field: str, value: str, kind: str) -> str:
    """A filter id: empty means "no filter"."""
    return validate_id(field, value, kind) if value else ""


def validate_description(field: str, value: str) -> str:
    if len(value) > DESCRIPTION_MAX:
        raise InvalidArgument(
            field, f"is {len(value)} characters long; at most {DESCRIPTION_MAX} are allowed"
        )
    for char in value:
        if (ord(char) < 0x20 and char not in "\t\n") or ord(char) == 0x7F:
            raise InvalidArgument(
                field, f"holds the control character {char!r}; use printable text"
            )
    return value


def validate_agent_address(field: str, value: str) -> str:
    """`host:port` of an agent, host being an IPv4 address, a bracketed IPv6 address or a DNS
    name. Returns it normalized (lower-case, IPv6 compressed)."""
    if not value:
        raise InvalidArgument(field, "is empty; give the agent's host:port, e.g. 10.0.0.5:50052")
    if len(value) > ADDRESS_MAX:
        raise InvalidArgument(
            field, f"is {len(value)} characters long; at most {ADDRESS_MAX} are allowed"
        )
    example = "e.g. 10.0.0.5:50052, [fd00::5]:50052 or host1.example.org:50052"
    if value.startswith("["):
        host_part, sep, port_text = value[1:].partition("]:")
        if not sep:
            raise InvalidArgument(field, f"{shown(value)} is not host:port; {example}")
        try:
            address = ipaddress.IPv6Address(host_part)
        except ValueError:
            raise InvalidArgument(
                field, f"{shown(host_part)} between brackets is not an IPv6 address"
            ) from None
        host = f"[{address.compressed}]"
    else:
        host_part, sep, port_text = value.rpartition(":")
        if not sep or not host_part:
            raise InvalidArgument(field, f"{shown(value)} is not host:port; {example}")
        if ":" in host_part:
            raise InvalidArgument(
                field, f"{shown(value)}: put an IPv6 address in brackets, e.g. [fd00::5]:50052"
            )
        host = _validate_host(field, host_part)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise InvalidArgument(field, f"port {shown(port_text)} is not a number from 1 to 65535")
    return f"{host}:{int(port_text)}"


def _validate_host(field: str, text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        pass
    if all(part.isdigit() for part in text.split(".")):
        raise InvalidArgument(field, f"{shown(text)} is not a valid IPv4 address")
    name = text.rstrip(".").lower()
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise InvalidArgument(field, f"{shown(text)} is neither an IP address nor a DNS name")
    return name


# ---------------------------------------------------------------- compatibility versions

KNOWN_COMPATIBILITY_VERSIONS: tuple[str, ...] = (
    "3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6",
    "4.0", "4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7",
)  # fmt: skip
NEWEST_COMPATIBILITY_VERSION = KNOWN_COMPATIBILITY_VERSIONS[-1]


def parse_compatibility_version(value: str) -> tuple[int, int]:
    """ "MAJOR.MINOR" as a comparable pair; ValueError when it is not one."""
    major, dot, minor = value.partition(".")
    if not dot or not major.isdigit() or not minor.isdigit() or len(value) > 16:
        raise ValueError(f"{value!r} is not MAJOR.MINOR")
    return int(major), int(minor)


def validate_compatibility_version(field: str, value: str) -> str:
    """A level the engine knows; empty means the newest."""
    if not value:
        return NEWEST_COMPATIBILITY_VERSION
    try:
        parsed = parse_compatibility_version(value)
    except ValueError:
        raise InvalidArgument(
            field, f"{shown(value)} is not MAJOR.MINOR, e.g. {NEWEST_COMPATIBILITY_VERSION}"
        ) from None
    normalized = f"{parsed[0]}.{parsed[1]}"
    if normalized not in KNOWN_COMPATIBILITY_VERSIONS:
        raise InvalidArgument(
            field,
            f"{shown(value)} is not a level this engine knows; use "
            f"{KNOWN_COMPATIBILITY_VERSIONS[0]} to {NEWEST_COMPATIBILITY_VERSION}",
        )
    return normalized


# ---------------------------------------------------------------- numbers and policy

# By MigrationPolicy attribute; a refusal names the request field (POLICY_FIELDS).
POLICY_LIMITS: dict[str, int] = {
    "custom_mibps": 1_000_000,
    "max_outgoing_per_host": 64,
    "max_incoming_per_host": 64,
    "max_concurrent_per_cluster": 10_000,
    "parallel_connections": 64,
    "no_progress_timeout_s": 86_400,
    "completion_timeout_s_per_gib": 86_400,
    "local_disk_bandwidth_percent": 100,
    # A budget above its link is not refused here (links differ per host): the rule takes the
    # smaller of the two.
    "management_migration_budget_mbps": QOS_MBPS_MAX,
}
# The MigrationPolicy message's field for each attribute whose name differs.
POLICY_FIELDS = {
    "custom_mibps": "custom_mib_per_second",
    "no_progress_timeout_s": "no_progress_timeout",
    "completion_timeout_s_per_gib": "completion_timeout_per_gib",
    "management_migration_budget_mbps": "management_migration_budget_mbit_per_second",
}


def validate_at_most(field: str, value: int, maximum: int) -> int:
    if value < 0:
        raise InvalidArgument(field, f"{value} is negative")
    if value > maximum:
        raise InvalidArgument(field, f"{value} is more than the maximum {maximum}")
    return value


def validate_qos_mbps(field: str, value: int | None) -> int | None:
    """None or 0: no QoS."""
    if not value:
        return None
    return validate_at_most(field, value, QOS_MBPS_MAX)


def resolve_policy(field: str, policy: MigrationPolicy | None) -> MigrationPolicy:
    """Client input to a stored policy: 0 / UNSPECIFIED take the documented defaults."""
    if policy is None:
        return MigrationPolicy()
    for name, maximum in POLICY_LIMITS.items():
        validate_at_most(f"{field}.{POLICY_FIELDS.get(name, name)}", getattr(policy, name), maximum)
    mode = policy.bandwidth_mode or BandwidthMode.AUTO
    if mode is BandwidthMode.CUSTOM and policy.custom_mibps == 0:
        raise InvalidArgument(
            f"{field}.custom_mib_per_second",
            "is 0 with bandwidth_mode BANDWIDTH_MODE_CUSTOM; give the cap in MiB/s",
        )
    if mode is not BandwidthMode.CUSTOM and policy.custom_mibps:
        raise InvalidArgument(
            f"{field}.custom_mib_per_second",
            f"applies only with bandwidth_mode BANDWIDTH_MODE_CUSTOM, not {mode.name}; "
            "set the mode to custom or leave custom_mib_per_second at 0",
        )
    return policy.with_defaults()
