"""Readable tables by default, JSON with --json."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from miglane.v1.time_labels import evacuation_summary, time_left


def enum_label(full_name: str, prefix: str) -> str:
    """`NETWORK_ROLE_MIGRATION` → `migration`."""
    name = full_name.removeprefix(prefix)
    return name.lower().replace("_", "-") if name else "-"


# What `vms set-priority` and `migrations start --priority` take.
PRIORITY_CHOICES = ("high", "normal", "low")
_PRIORITY_PREFIX = "MIGRATION_PRIORITY_"


def priority_label(value: int) -> str:
    """MIGRATION_PRIORITY_HIGH's number → `high`."""
    from miglane.v1 import engine_pb2

    return enum_label(engine_pb2.MigrationPriority.Name(value), _PRIORITY_PREFIX)


def priority_value(label: str) -> Any:
    """`high` → MIGRATION_PRIORITY_HIGH's number."""
    from miglane.v1 import engine_pb2

    return engine_pb2.MigrationPriority.Value(_PRIORITY_PREFIX + label.upper())


# An event written before events recorded who caused them.
UNKNOWN_ACTOR = "-"
# A host the engine's CA issued no live certificate.
NO_CERTIFICATE = "none"


_GIB = 1024**3
_MIB = 1024**2


def size_label(size_bytes: int) -> str:
    """ "1.0 GiB", "512 MiB"; "?" when unknown (0)."""
    if not size_bytes:
        return "?"
    if size_bytes >= _GIB:
        return f"{size_bytes / _GIB:.1f} GiB"
    return f"{size_bytes / _MIB:.0f} MiB"


def disks_summary(vm: Any) -> str:
    """A VM's disks, "vda local 1.0 GiB, vdb shared 4.0 GiB"; "-" without any."""
    from miglane.v1 import common_pb2

    parts = [
        f"{disk.target} {enum_label(common_pb2.DiskKind.Name(disk.kind), 'DISK_KIND_')} "
        f"{size_label(disk.size_bytes)}"
        for disk in vm.disks
    ]
    return ", ".join(parts) or "-"


def networks_summary(vm: Any) -> str:
    """The networks a VM's vNICs use, each once: "prod-vlan, storage"; "-" without any."""
    return ", ".join(dict.fromkeys(nic.network for nic in vm.nics if nic.network)) or "-"


NOT_MEASURED = "-"


def mib_per_second_label(bytes_per_second: int) -> str:
    """ "12.5 MiB/s"."""
    return f"{bytes_per_second / _MIB:.1f} MiB/s"


def dirty_label(bytes_per_second: int, working_set_bytes: int) -> str:
    """A measured dirty rate, "12.5 MiB/s", and "12.5 MiB/s within 4.0 MiB" when the guest kept
    rewriting a working set of that size (a migration round resends no more of it)."""
    rate = mib_per_second_label(bytes_per_second)
    return f"{rate} within {working_set_bytes / _MIB:.1f} MiB" if working_set_bytes else rate


def dirty_rate_label(vm: Any) -> str:
    """The VM's latest dirty rate (`dirty_label`); NOT_MEASURED before its agent measured one."""
    if not vm.HasField("dirty_rate_measured_at"):
        return NOT_MEASURED
    return dirty_label(vm.dirty_rate_bytes_per_second, vm.dirty_working_set_bytes)


def working_set_label(vm: Any) -> str:
    """The working set the VM keeps rewriting, "4.0 MiB"; "not bounded" when its dirtying is
    not bounded by one (or that is not known); NOT_MEASURED before its agent measured it."""
    if not vm.HasField("dirty_rate_measured_at"):
        return NOT_MEASURED
    if not vm.dirty_working_set_bytes:
        return "not bounded"
    return f"{vm.dirty_working_set_bytes / _MIB:.1f} MiB"


def time_left_label(ends: datetime, now: datetime | None = None) -> str:
    """The time until `ends`: "in 2m10s", "in 1h05m"; "due" once it has passed."""
    return time_left(ends, now)


def evacuation_label(host: Any, now: datetime | None = None) -> str:
    """A host preparing for maintenance: "evacuating · 7 VMs left · finish ≈ 14:32 (in
    3m10s)" (UTC); empty for any other host."""
    from miglane.v1 import engine_pb2

    if host.status != engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE:
        return ""
    return evacuation_summary(host, now)


def certificate_days_left(host: Any, now: datetime | None = None) -> str:
    """Whole days until the host's certificate ends (negative once it has), rounded down;
    NO_CERTIFICATE when it has none."""
    if not host.HasField("certificate_not_after"):
        return NO_CERTIFICATE
    ends = host.certificate_not_after.ToDatetime(tzinfo=UTC)
    return str(math.floor((ends - (now or datetime.now(UTC))) / timedelta(days=1)))


def print_json(messages: Message | Sequence[Message], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if isinstance(messages, Message):
        payload: object = _as_dict(messages)
    else:
        payload = [_as_dict(m) for m in messages]
    json.dump(payload, out, indent=2, sort_keys=True)
    out.write("\n")


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO | None = None
) -> None:
    out = out or sys.stdout
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        out.write("  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() + "\n")
        if index == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
    if not rows:
        out.write("(none)\n")


def print_fields(fields: Sequence[tuple[str, object]], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        out.write(f"{name.ljust(width)}  {_cell(value)}\n")


def _as_dict(message: Message) -> dict[str, object]:
    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "-"
    return str(value)
