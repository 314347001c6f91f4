"""Validation of the migrate verb: migration URIs, destination peers, request fields.

Refusals raise `InvalidRequest` with a message that says what to change."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from miglane.agent.domain.errors import InvalidRequest
from miglane.agent.domain.model import MigrateRequest, MigrationMode

DEFAULT_LIBVIRT_TCP_PORT = 16509
MIGRATION_URI_SCHEMES = ("tcp", "tls")
# Schemes libvirt accepts for a peer-to-peer destination connection.
PEER_URI_SCHEME = re.compile(r"^(qemu|test)(\+(tcp|tls|ssh|unix|libssh|libssh2))?://")
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_MIGRATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass(frozen=True)
class MigrationUri:
    """Where QEMU sends the migration data."""

    scheme: str
    host: str
    port: int | None = None

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port is not None else "")


def is_hostname(name: str) -> bool:
    if not name or len(name) > 253:
        return False
    labels = name.rstrip(".").split(".")
    if all(label.isdigit() for label in labels):
        return False  # looks like a broken IPv4 address, not a name
    return all(_HOSTNAME_LABEL.match(label) for label in labels)


def _parse_port(text: str, uri: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidRequest(f"migration URI {uri!r}: port {text!r} is not in 1..65535")
    return int(text)


def parse_migration_uri(uri: str) -> MigrationUri:
    """`tcp://ADDR[:PORT]` or `tls://ADDR[:PORT]`; ADDR an IPv4 address, a bracketed IPv6
    address or a hostname. Nothing else (no path, user or query) is accepted."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise InvalidRequest(f"migration URI {uri!r} has no scheme; use tcp://ADDR[:PORT]")
    scheme = scheme.lower()
    if scheme not in MIGRATION_URI_SCHEMES:
        raise InvalidRequest(
            f"migration URI {uri!r}: scheme {scheme!r} is not supported; use tcp:// or tls://"
        )
    if not rest or any(c in rest for c in "/?#@ "):
        raise InvalidRequest(
            f"migration URI {uri!r} must be {scheme}://ADDR[:PORT] with no path, user or query"
        )
    port: int | None = None
    if rest.startswith("["):
        host, bracket, after = rest[1:].partition("]")
        if not bracket:
            raise InvalidRequest(f"migration URI {uri!r}: unclosed '[' around the IPv6 address")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidRequest(
                f"migration URI {uri!r}: {host!r} is not an IPv6 address"
            ) from None
        if after:
            if not after.startswith(":"):
                raise InvalidRequest(f"migration URI {uri!r}: unexpected {after!r} after ']'")
            port = _parse_port(after[1:], uri)
        return MigrationUri(scheme, host, port)
    if rest.count(":") > 1:
        raise InvalidRequest(
            f"migration URI {uri!r}: an IPv6 address must be in brackets, e.g. tcp://[fd00::5]"
        )
    host, colon, port_text = rest.partition(":")
    if colon:
        port = _parse_port(port_text, uri)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        if not is_hostname(host):
            raise InvalidRequest(
                f"migration URI {uri!r}: {host!r} is neither an IPv4 address nor a hostname"
            ) from None
    return MigrationUri(scheme, host, port)


def peer_uri_for(dst: str, default_port: int = DEFAULT_LIBVIRT_TCP_PORT) -> str:
    """The libvirt URI the source daemon uses to reach the destination daemon.

    `dst` is either such a URI already (as the destination agent reports in its capabilities)
    or a management address `HOST`, `HOST:LIBVIRT_PORT` or `[V6]:LIBVIRT_PORT`."""
    dst = dst.strip()
    if not dst:
        raise InvalidRequest("dst is empty: give the destination's peer libvirt URI or address")
    if "://" in dst:
        if not PEER_URI_SCHEME.match(dst):
            raise InvalidRequest(
                f"dst {dst!r} is not a libvirt URI such as qemu+tcp://HOST:16509/system"
            )
        return dst
    try:
        parsed = parse_migration_uri(f"tcp://{dst}")
    except InvalidRequest:
        raise InvalidRequest(
            f"dst {dst!r} is neither a libvirt URI nor HOST[:PORT] / [IPv6][:PORT]"
        ) from None
    host = f"[{parsed.host}]" if parsed.is_ipv6 else parsed.host
    return f"qemu+tcp://{host}:{parsed.port or default_port}/system"


@dataclass(frozen=True)
class ValidatedMigration:
    request: MigrateRequest
    mode: MigrationMode
    peer_uri: str = ""
    migration_uri: MigrationUri | None = None
    save_path: str = ""


def validate_migrate_request(request: MigrateRequest) -> ValidatedMigration:
    """Everything that can be checked without the hypervisor."""
    if not _MIGRATION_ID.match(request.migration_id):
        raise InvalidRequest(
            f"migration_id {request.migration_id!r} must be 1-128 characters of "
            "letters, digits, '.', '_', ':' or '-'"
        )
    if not request.vm_id:
        raise InvalidRequest("vm_id is empty: give the libvirt domain UUID")
    if request.mode is None:
        raise InvalidRequest("mode is unknown: use MIGRATION_MODE_LIVE or MIGRATION_MODE_HIBERNATE")
    if request.method not in ("", "online"):
        raise InvalidRequest(f"method {request.method!r} is not supported; only 'online'")
    if request.max_bandwidth_mibps is not None and request.max_bandwidth_mibps <= 0:
        raise InvalidRequest("max_bandwidth_mibps must be > 0 when given (unset: no cap)")
    if request.options.parallel_connections > 255:
        raise InvalidRequest("parallel_connections must be at most 255")
    for step in request.schedule.stalling:
        if step.action.name == "SET_DOWNTIME" and step.downtime_ms <= 0:
            raise InvalidRequest(
                "a SET_DOWNTIME step of convergence_schedule needs downtime_ms > 0"
            )
    if request.mode is MigrationMode.HIBERNATE:
        path = request.dst_params.get("path", "")
        if not path.startswith("/"):
            raise InvalidRequest(
                'hibernation needs dst_params["path"], an absolute path to save the VM to'
            )
        return ValidatedMigration(request, request.mode, save_path=path)
    if not request.migration_uri:
        raise InvalidRequest("migration_uri is empty: give tcp://<destination migration address>")
    uri = parse_migration_uri(request.migration_uri)
    return ValidatedMigration(request, request.mode, peer_uri_for(request.dst), uri)
