"""Validation of the migrate verb: migration URIs, destination peers, request fields.

Refusals raise `InvalidArgument` naming the field at fault, with a message that says what to
change."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from miglane.agent.domain.errors import InvalidArgument
from miglane.agent.domain.model import MIB, DomainInfo, MigrateRequest, MigrationMode, VmDisk

# libvirtd's TLS port: peers are reached with qemu+tls:// only (never plain qemu+tcp://).
DEFAULT_LIBVIRT_TLS_PORT = 16514
PEER_URI_SCHEME = "qemu+tls"
# QEMU's data goes over plain TCP to an address; VIR_MIGRATE_TLS (the `encrypted` option)
# wraps it in TLS. No other transport (rdma, unix, exec, fd, ...) may be named by a request.
MIGRATION_URI_SCHEMES = ("tcp",)
# What a destination's agent reports as its peer libvirt URI, accepted back as `dst`.
_PEER_URI = re.compile(r"^qemu\+tls://(?P<authority>[^/?#@\s]+)/system$")
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_MIGRATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# The MigrateRequest fields refusals name (paths in the AgentService contract).
DST_FIELD = "live.dst"
MIGRATION_URI_FIELD = "live.migration_uri"
SAVE_PATH_FIELD = "hibernation.path"
MAX_BANDWIDTH_FIELD = "max_bandwidth_mib_per_second"
DISKS_URI_FIELD = "disks_uri"
COPY_LOCAL_DISKS_FIELD = "copy_local_disks"


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


def _parse_port(text: str, uri: str, field: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidArgument(
            f"migration URI {uri!r}: port {text!r} is not in 1..65535", field=field
        )
    return int(text)


def parse_migration_uri(uri: str, field: str = MIGRATION_URI_FIELD) -> MigrationUri:
    """`tcp://ADDR[:PORT]`; ADDR an IPv4 address, a bracketed IPv6 address or a hostname.
    Nothing else (no other scheme, no path, user or query) is accepted. `field` is the request
    field the URI came from, named in a refusal."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise InvalidArgument(
            f"migration URI {uri!r} has no scheme; use tcp://ADDR[:PORT]", field=field
        )
    scheme = scheme.lower()
    if scheme not in MIGRATION_URI_SCHEMES:
        raise InvalidArgument(
            f"migration URI {uri!r}: scheme {scheme!r} is not supported; use "
            "tcp://ADDR[:PORT] (the encrypted option turns TLS on)",
            field=field,
        )
    if not rest or any(c in rest for c in "/?#@ "):
        raise InvalidArgument(
            f"migration URI {uri!r} must be {scheme}://ADDR[:PORT] with no path, user or query",
            field=field,
        )
    port: int | None = None
    if rest.startswith("["):
        host, bracket, after = rest[1:].partition("]")
        if not bracket:
            raise InvalidArgument(
                f"migration URI {uri!r}: unclosed '[' around the IPv6 address", field=field
            )
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidArgument(
                f"migration URI {uri!r}: {host!r} is not an IPv6 address", field=field
            ) from None
        if after:
            if not after.startswith(":"):
                raise InvalidArgument(
                    f"migration URI {uri!r}: unexpected {after!r} after ']'", field=field
                )
            port = _parse_port(after[1:], uri, field)
        return MigrationUri(scheme, host, port)
    if rest.count(":") > 1:
        raise InvalidArgument(
            f"migration URI {uri!r}: an IPv6 address must be in brackets, e.g. tcp://[fd00::5]",
            field=field,
        )
    host, colon, port_text = rest.partition(":")
    if colon:
        port = _parse_port(port_text, uri, field)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        if not is_hostname(host):
            raise InvalidArgument(
                f"migration URI {uri!r}: {host!r} is neither an IPv4 address nor a hostname",
                field=field,
            ) from None
    return MigrationUri(scheme, host, port)


@dataclass(frozen=True)
class Destination:
    """The destination host named by the engine: the libvirt URI the source daemon reaches it
    at, and the name its certificate must carry (libvirt's TLS destination), which is the
    host name or management address the engine named."""

    peer_uri: str
    tls_name: str


def destination_for(
    dst: str, default_port: int = DEFAULT_LIBVIRT_TLS_PORT, field: str = DST_FIELD
) -> Destination:
    """The destination's libvirt URI, `qemu+tls://HOST[:PORT]/system`, built here and nowhere
    else from the `dst` the engine names: its host name or management address `HOST`,
    `HOST:LIBVIRT_PORT` or `[V6]:LIBVIRT_PORT`, or a URI of exactly that form (what the
    destination's agent reports as its peer libvirt URI). Any other URI (qemu+tcp://, ssh,
    unix sockets, queries, users) is refused: a caller cannot point libvirt elsewhere."""
    dst = dst.strip()
    if not dst:
        raise InvalidArgument(
            "dst is empty: give the destination's host name or management address", field=field
        )
    authority = dst
    if "://" in dst:
        match = _PEER_URI.match(dst)
        if match is None:
            raise InvalidArgument(
                f"dst {dst!r} is not a destination: give its host name or management address "
                f"(HOST[:PORT]); a URI must be {PEER_URI_SCHEME}://HOST[:PORT]/system",
                field=field,
            )
        authority = match.group("authority")
    try:
        parsed = parse_migration_uri(f"tcp://{authority}", field)
    except InvalidArgument:
        raise InvalidArgument(
            f"dst {dst!r} is neither a host name nor an address HOST[:PORT] / [IPv6][:PORT]",
            field=field,
        ) from None
    host = f"[{parsed.host}]" if parsed.is_ipv6 else parsed.host
    port = f":{parsed.port}" if parsed.port not in (None, default_port) else ""
    return Destination(f"{PEER_URI_SCHEME}://{host}{port}/system", parsed.host)


@dataclass(frozen=True)
class ValidatedMigration:
    request: MigrateRequest
    mode: MigrationMode
    peer_uri: str = ""
    migration_uri: MigrationUri | None = None
    # The name the destination's certificate must carry (VIR_MIGRATE_PARAM_TLS_DESTINATION).
    tls_destination: str = ""
    # Where a copy of local disks goes: the request's disks_uri, else the migration URI's host
    # (the destination's migration address, so the copy rides the migration network too).
    disks_uri: MigrationUri | None = None


def validate_migration_id(migration_id: str) -> str:
    """The id of a job to look up: malformed is INVALID_ARGUMENT, not "no such job"."""
    if not _MIGRATION_ID.match(migration_id):
        shown = repr(migration_id[:48]) + ("…" if len(migration_id) > 48 else "")
        raise InvalidArgument(
            f"migration_id {shown} must be 1-128 characters of letters, digits, '.', '_', ':' "
            "or '-'",
            field="migration_id",
        )
    return migration_id


def validate_migrate_request(request: MigrateRequest) -> ValidatedMigration:
    """Everything that can be checked without the hypervisor."""
    if not _MIGRATION_ID.match(request.migration_id):
        raise InvalidArgument(
            f"migration_id {request.migration_id!r} must be 1-128 characters of "
            "letters, digits, '.', '_', ':' or '-'",
            field="migration_id",
        )
    if not request.vm_id:
        raise InvalidArgument("vm_id is empty: give the libvirt domain UUID", field="vm_id")
    if request.mode is None:
        raise InvalidArgument(
            "the target is missing: give a live target or a hibernation target", field="target"
        )
    if request.max_bandwidth_mibps is not None and request.max_bandwidth_mibps <= 0:
        raise InvalidArgument(
            "the bandwidth cap must be > 0 when given (unset: no cap)",
            field=MAX_BANDWIDTH_FIELD,
        )
    if request.options.parallel_connections > 255:
        raise InvalidArgument(
            "parallel_connections must be at most 255", field="parallel_connections"
        )
    for field, seconds in (
        ("no_progress_timeout", request.timeouts.no_progress_s),
        ("completion_timeout_per_gib", request.timeouts.completion_s_per_gib),
    ):
        if seconds < 0:
            raise InvalidArgument(f"{field} is negative ({seconds} s)", field=field)
    for step in request.schedule.stalling:
        if step.action.name == "SET_DOWNTIME" and step.downtime_ms <= 0:
            raise InvalidArgument(
                "a SET_DOWNTIME step of convergence_schedule needs a downtime > 0",
                field="convergence_schedule",
            )
    if request.mode is MigrationMode.HIBERNATE:
        if request.save_path:
            raise InvalidArgument(
                "hibernation.path must be empty: the agent saves under its own save directory, "
                "in a file named after the VM and the migration id",
                field=SAVE_PATH_FIELD,
            )
        return ValidatedMigration(request, request.mode)
    if not request.migration_uri:
        raise InvalidArgument(
            "migration_uri is empty: give tcp://<destination migration address>",
            field=MIGRATION_URI_FIELD,
        )
    uri = parse_migration_uri(request.migration_uri, MIGRATION_URI_FIELD)
    if request.disks_uri:
        disks_uri = parse_migration_uri(request.disks_uri, DISKS_URI_FIELD)
    else:
        disks_uri = MigrationUri(uri.scheme, uri.host)
    destination = destination_for(request.dst)
    return ValidatedMigration(
        request, request.mode, destination.peer_uri, uri, destination.tls_name, disks_uri
    )


def check_local_disks(domain: DomainInfo, request: MigrateRequest) -> None:
    """A live migration of a VM with local disks copies them, or is refused before anything
    starts (never migrated as if its disks were shared)."""
    local = domain.local_disks
    if not local or request.mode is not MigrationMode.LIVE or request.options.copy_local_disks:
        return
    named = ", ".join(
        f"{d.target} ({d.source or 'no source'}, {d.size_bytes // MIB} MiB)" for d in local
    )
    plural = "disks" if len(local) > 1 else "disk"
    raise InvalidArgument(
        f"VM {domain.name} has a local {plural} {named} that only this host holds: set "
        "copy_local_disks to copy it to the destination during the migration",
        field=COPY_LOCAL_DISKS_FIELD,
    )


def save_file_name(vm_id: str, migration_id: str) -> str:
    """The file a hibernation saves to, inside the agent's save directory: derived from the VM
    and the (already validated) migration id, never from a path in the request."""
    vm_part = re.sub(r"[^A-Za-z0-9-]", "_", vm_id)[:64]
    return f"{vm_part}.{migration_id}.save"


def copied_disks(request: MigrateRequest, domain: DomainInfo) -> tuple[VmDisk, ...]:
    """The local disks a live migration copies (`check_local_disks` refused the others)."""
    if request.mode is not MigrationMode.LIVE or not request.options.copy_local_disks:
        return ()
    return domain.local_disks
