"""How engine values read on screen: sizes, rates, durations, bars, and the styled labels."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from rich.text import Text

from miglane.pki import EXPIRY_WARNING
from miglane.v1 import common_pb2, engine_pb2
from miglane.v1.time_labels import duration_text, evacuation_summary, time_left

MIB = 1024 * 1024
PROGRESS_WIDTH = 10

PHASE_STYLES: dict[int, tuple[str, str]] = {
    common_pb2.MIGRATION_PHASE_QUEUED: ("queued", "yellow"),
    common_pb2.MIGRATION_PHASE_PREPARING: ("preparing", "cyan"),
    common_pb2.MIGRATION_PHASE_RUNNING: ("running", "bold cyan"),
    common_pb2.MIGRATION_PHASE_COMPLETED: ("completed", "green"),
    common_pb2.MIGRATION_PHASE_FAILED: ("failed", "bold red"),
    common_pb2.MIGRATION_PHASE_CANCELLED: ("cancelled", "magenta"),
}

HOST_STATUS_STYLES: dict[int, tuple[str, str]] = {
    engine_pb2.HOST_STATUS_UP: ("up", "green"),
    engine_pb2.HOST_STATUS_NON_OPERATIONAL: ("non-operational", "bold red"),
    engine_pb2.HOST_STATUS_UNREACHABLE: ("unreachable", "bold red"),
    engine_pb2.HOST_STATUS_MAINTENANCE: ("maintenance", "yellow"),
    engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE: ("preparing for maintenance", "yellow"),
}

VM_STATE_STYLES: dict[int, tuple[str, str]] = {
    common_pb2.VM_STATE_RUNNING: ("running", "green"),
    common_pb2.VM_STATE_PAUSED: ("paused", "yellow"),
    common_pb2.VM_STATE_SHUT_OFF: ("shut off", "dim"),
    common_pb2.VM_STATE_MIGRATING: ("migrating", "bold cyan"),
    common_pb2.VM_STATE_CRASHED: ("crashed", "bold red"),
    common_pb2.VM_STATE_SAVED: ("saved", "dim"),
}

SEVERITY_STYLES: dict[int, tuple[str, str]] = {
    engine_pb2.EVENT_SEVERITY_INFO: ("info", ""),
    engine_pb2.EVENT_SEVERITY_WARNING: ("warning", "bold yellow"),
    engine_pb2.EVENT_SEVERITY_ERROR: ("error", "bold red"),
}

ROLE_LABELS: dict[int, str] = {
    common_pb2.NETWORK_ROLE_MANAGEMENT: "management",
    common_pb2.NETWORK_ROLE_DISPLAY: "display",
    common_pb2.NETWORK_ROLE_MIGRATION: "migration",
}

# Shown where a migration's data left the migration network: short, then the detail beside.
FALLBACK_LABELS: dict[int, str] = {
    common_pb2.FALLBACK_REASON_NO_MIGRATION_NETWORK: "no migration network",
    common_pb2.FALLBACK_REASON_DESTINATION_NOT_ATTACHED: "destination not attached",
    common_pb2.FALLBACK_REASON_DESTINATION_LINK_DOWN: "destination link down",
    common_pb2.FALLBACK_REASON_SOURCE_LINK_DOWN: "source link down",
    common_pb2.FALLBACK_REASON_NO_ADDRESS: "no usable address",
    common_pb2.FALLBACK_REASON_LEGACY_CLUSTER: "cluster level below 3.3",
    common_pb2.FALLBACK_REASON_SOURCE_NOT_ATTACHED: "source not attached",
}

MIGRATION_ROLE_STYLE = "bold black on magenta"
FALLBACK_STYLE = "bold black on yellow"


def size(n_bytes: int) -> str:
    if n_bytes <= 0:
        return "-"
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def vm_disks(vm: engine_pb2.Vm) -> Text:
    """ "vda local 1.0 GiB, vdb shared 4.0 GiB"; a local disk stands out (migrating it copies
    it); a dim "-" without disks."""
    if not vm.disks:
        return Text("-", style="dim")
    shown = Text()
    for index, disk in enumerate(vm.disks):
        if index:
            shown.append(", ")
        kind = common_pb2.DiskKind.Name(disk.kind).removeprefix("DISK_KIND_").lower()
        shown.append(
            f"{disk.target} {kind} {size(disk.size_bytes)}",
            style="yellow" if disk.kind == common_pb2.DISK_KIND_LOCAL else "",
        )
    return shown


def disk_copy(migration: engine_pb2.Migration) -> str:
    """ "disk: 512.0 MiB of 1.0 GiB copied", the part of the data that copies the VM's local
    disks; empty when the migration copies no disk."""
    if migration.disk_total_bytes <= 0:
        return ""
    processed = migration.disk_processed_bytes
    # size() shows 0 as "-" (unknown); here 0 is a known amount: nothing copied yet.
    copied = size(processed) if processed else "0 B"
    return f"disk: {copied} of {size(migration.disk_total_bytes)} copied"


def vm_networks(vm: engine_pb2.Vm) -> Text:
    """The networks the VM's vNICs use, each once; a dim "-" without vNICs."""
    names = ", ".join(dict.fromkeys(nic.network for nic in vm.nics if nic.network))
    return Text(names) if names else Text("-", style="dim")


def dirty_rate(vm: engine_pb2.Vm) -> Text:
    """The VM's latest measured dirty rate, "12.5 MiB/s", with "within 4.0 MiB" when the guest
    keeps rewriting a working set of that size (a migration round resends no more); a dim "-"
    before the first."""
    if not vm.HasField("dirty_rate_measured_at"):
        return Text("-", style="dim")
    # A measured 0 is a figure ("0.0 MiB/s"), unlike `rate`'s "-" for no figure.
    shown = Text(f"{vm.dirty_rate_bytes_per_second / MIB:.1f} MiB/s")
    if vm.dirty_working_set_bytes:
        shown.append(f" within {vm.dirty_working_set_bytes / MIB:.1f} MiB", style="dim")
    return shown


def rate(bytes_per_s: int) -> str:
    if bytes_per_s <= 0:
        return "-"
    return f"{bytes_per_s / MIB:.1f} MiB/s"


def mibps(value: int) -> str:
    return f"{value} MiB/s" if value else "none"


def link_speed(mbps: int) -> str:
    if mbps <= 0:
        return "?"
    return f"{mbps // 1000}G" if mbps >= 1000 and mbps % 1000 == 0 else f"{mbps}M"


def duration(seconds: int) -> str:
    return duration_text(seconds) if seconds > 0 else "-"


def predicted_finish(value: Timestamp, now: datetime | None = None) -> str:
    """A predicted finish as "in 2m10s"; "-" when none was predicted."""
    if not value.seconds and not value.nanos:
        return "-"
    return time_left(value.ToDatetime(tzinfo=UTC), now)


VERDICT_STYLES: dict[int, tuple[str, str]] = {
    engine_pb2.CONVERGENCE_VERDICT_CONVERGES: ("converges", "green"),
    engine_pb2.CONVERGENCE_VERDICT_CONVERGES_ONLY_WITH_HELP: ("only with help", "yellow"),
    engine_pb2.CONVERGENCE_VERDICT_NEVER_CONVERGES: ("never converges", "bold red"),
}


def verdict(value: int) -> Text:
    return styled(VERDICT_STYLES, value, "-")


def prediction(migration: engine_pb2.Migration) -> Text:
    """The predicted finish in the verdict's colour, or the verdict when it never finishes."""
    if migration.verdict == engine_pb2.CONVERGENCE_VERDICT_NEVER_CONVERGES:
        return verdict(migration.verdict)
    _, style = VERDICT_STYLES.get(migration.verdict, ("", "dim"))
    return Text(predicted_finish(migration.expected_finish_at), style=style)


def evacuation(host: engine_pb2.Host, now: datetime | None = None) -> Text | None:
    """A host preparing for maintenance: "evacuating · 7 VMs left · finish ≈ 14:32 (in
    3m10s)" (UTC); None for any other host."""
    if host.status != engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE:
        return None
    words = evacuation_summary(host, now)
    _, style = HOST_STATUS_STYLES[engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE]
    return Text(words, style=style)


def timestamp(value: Timestamp) -> str:
    if not value.seconds and not value.nanos:
        return "-"
    moment = datetime.fromtimestamp(value.seconds, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def certificate_days(host: engine_pb2.Host, now: datetime | None = None) -> Text:
    """Whole days the host's certificate has left (rounded down, negative once expired): red
    within the expiry warning, dim "none" without one."""
    if not host.HasField("certificate_not_after"):
        return Text("none", style="dim")
    ends = host.certificate_not_after.ToDatetime(tzinfo=UTC)
    left = (ends - (now or datetime.now(UTC))) / timedelta(days=1)
    return Text(str(math.floor(left)), style="bold red" if left <= EXPIRY_WARNING.days else "")


def actor(name: str) -> Text:
    """Who caused an event; dim "-" for events written before actors were recorded."""
    return Text(name) if name else Text("-", style="dim")


def progress_bar(percent: int, phase: int, width: int = PROGRESS_WIDTH) -> Text:
    percent = max(0, min(100, percent))
    filled = round(width * percent / 100)
    _, style = PHASE_STYLES.get(phase, ("", ""))
    bar = Text("█" * filled, style=style or "cyan")
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {percent:3d}%")
    return bar


def styled(table: dict[int, tuple[str, str]], value: int, unknown: str = "?") -> Text:
    label, style = table.get(value, (unknown, "dim"))
    return Text(label, style=style)


def phase(value: int) -> Text:
    return styled(PHASE_STYLES, value)


def host_status(value: int) -> Text:
    return styled(HOST_STATUS_STYLES, value, "unknown")


def vm_state(value: int) -> Text:
    return styled(VM_STATE_STYLES, value, "unknown")


def severity(value: int) -> Text:
    return styled(SEVERITY_STYLES, value, "-")


def roles(values: list[int]) -> Text:
    """The network's roles, with the migration role standing out."""
    text = Text()
    for value in sorted(values, key=lambda v: v != common_pb2.NETWORK_ROLE_MIGRATION):
        if text:
            text.append(" ")
        label = ROLE_LABELS.get(value, "?")
        if value == common_pb2.NETWORK_ROLE_MIGRATION:
            text.append(f" ⇄ {label} ", style=MIGRATION_ROLE_STYLE)
        else:
            text.append(label)
    return text or Text("-", style="dim")


def link(up: bool, speed_mbps: int) -> Text:
    if up:
        return Text(f"▲ up {link_speed(speed_mbps)}", style="green")
    return Text("▼ down", style="bold red")


def fallback_label(reason: int) -> str:
    return FALLBACK_LABELS.get(reason, "")


def is_fallback(reason: int) -> bool:
    return reason in FALLBACK_LABELS


def carrier(network_name: str, reason: int) -> Text:
    """The network carrying a migration; a fallback stands out with its reason."""
    if is_fallback(reason):
        text = Text(f"⚠ {network_name or 'management'}", style=FALLBACK_STYLE)
        text.append(f" {fallback_label(reason)}", style="yellow")
        return text
    return Text(network_name or "-", style="")


def enum_label(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower().replace("_", " ")


# The priorities an admin may set, highest first.
PRIORITY_LABELS = ("high", "normal", "low")
_PRIORITY_STYLES = {"high": "bold", "normal": "", "low": "dim"}


def priority_label(value: int) -> str:
    """MIGRATION_PRIORITY_HIGH's number → "high"."""
    return engine_pb2.MigrationPriority.Name(value).removeprefix("MIGRATION_PRIORITY_").lower()


def priority_value(label: str) -> int:
    """ "high" → MIGRATION_PRIORITY_HIGH's number."""
    return engine_pb2.MigrationPriority.Value("MIGRATION_PRIORITY_" + label.upper())


def priority(value: int) -> Text:
    label = priority_label(value)
    return Text(label, style=_PRIORITY_STYLES.get(label, ""))
