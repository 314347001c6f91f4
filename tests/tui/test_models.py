"""The TUI's plain state and formatting, without a screen."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from miglane.pki import EXPIRY_WARNING
from miglane.tui import format as fmt
from miglane.tui.client import EngineError
from miglane.tui.models import EventLog, MigrationBoard
from miglane.v1 import common_pb2, engine_pb2

RUNNING = common_pb2.MIGRATION_PHASE_RUNNING
GIB = 1024**3


def _migration(percent: int, phase: int = RUNNING, vm: str = "vm1") -> engine_pb2.Migration:
    return engine_pb2.Migration(id="m1", vm_id=vm, phase=phase, progress_percent=percent)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("updates", "shown"),
    [
        ([10, 40, 20], 40),  # a late, lower update does not pull the bar back
        ([99, 99], 99),
        ([50, 0], 50),  # a reconnect's snapshot that knows less
    ],
)
def test_progress_never_goes_backwards(updates: list[int], shown: int) -> None:
    board = MigrationBoard()
    for percent in updates:
        board.apply(_migration(percent))
    assert board.get("m1").progress_percent == shown  # type: ignore[union-attr]


def test_completed_shows_100_and_ends_the_vms_active_migration() -> None:
    board = MigrationBoard()
    board.apply(_migration(99))
    assert board.active_for_vm("vm1") is not None
    board.apply(_migration(99, common_pb2.MIGRATION_PHASE_COMPLETED))
    assert board.get("m1").progress_percent == 100  # type: ignore[union-attr]
    assert board.active_for_vm("vm1") is None


def test_snapshot_replaces_what_is_gone() -> None:
    board = MigrationBoard()
    board.apply(_migration(30))
    other = engine_pb2.Migration(id="m2", vm_id="vm2", phase=RUNNING)
    assert board.replace_all([other]) == {"m1"}
    assert "m1" not in board and board.active_for_vm("vm1") is None
    assert board.active_for_vm("vm2") is not None


def test_event_log_skips_replayed_events() -> None:
    log = EventLog(capacity=3)
    for sequence in (1, 2, 2, 3, 1, 4):
        log.add(engine_pb2.Event(sequence=sequence))
    assert [e.sequence for e in log.events] == [2, 3, 4]
    assert log.last_sequence == 4


def test_fallback_stands_out_with_its_reason() -> None:
    plain = fmt.carrier("migration", common_pb2.FALLBACK_REASON_UNSPECIFIED)
    fallback = fmt.carrier("ovirtmgmt", common_pb2.FALLBACK_REASON_DESTINATION_LINK_DOWN)
    assert plain.plain == "migration" and not plain.style and not plain.spans
    assert fallback.plain == "⚠ ovirtmgmt destination link down"
    assert str(fallback.style) == fmt.FALLBACK_STYLE


def test_migration_role_stands_out() -> None:
    roles = fmt.roles([common_pb2.NETWORK_ROLE_MANAGEMENT, common_pb2.NETWORK_ROLE_MIGRATION])
    assert roles.plain == " ⇄ migration  management"
    assert any(str(span.style) == fmt.MIGRATION_ROLE_STYLE for span in roles.spans)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "-"), (5, "5s"), (65, "1m05s"), (3725, "1h02m")],
)
def test_duration(value: int, text: str) -> None:
    assert fmt.duration(value) == text


def test_engine_error_says_what_kind_it_is() -> None:
    lost = EngineError("UNAVAILABLE", "connection refused", "127.0.0.1:1")
    assert lost.is_connection_problem and "cannot reach the engine at 127.0.0.1:1" in str(lost)
    refused = EngineError("FAILED_PRECONDITION", "a VM is migrating")
    assert (
        not refused.is_connection_problem
        and str(refused) == "FAILED_PRECONDITION: a VM is migrating"
    )


def test_registering_the_subcommand_imports_neither_textual_nor_grpc() -> None:
    code = (
        "import sys, argparse; import miglane.tui.cli as c; "
        "p = argparse.ArgumentParser(); c.register(p.add_subparsers()); "
        "print(sorted(m for m in ('textual', 'grpc') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _host_ending_in(delta: timedelta | None) -> engine_pb2.Host:
    host = engine_pb2.Host(name="h1")
    if delta is not None:
        host.certificate_not_after.FromDatetime(NOW + delta)
    return host


@pytest.mark.parametrize(
    ("delta", "text", "warned"),
    [
        (timedelta(days=364, hours=23), "364", False),
        (EXPIRY_WARNING + timedelta(hours=1), str(EXPIRY_WARNING.days), False),
        (EXPIRY_WARNING, str(EXPIRY_WARNING.days), True),
        (timedelta(hours=5), "0", True),
        (-timedelta(hours=5), "-1", True),
        (None, "none", False),
    ],
)
def test_certificate_days(delta: timedelta | None, text: str, warned: bool) -> None:
    shown = fmt.certificate_days(_host_ending_in(delta), NOW)
    assert shown.plain == text
    assert ("red" in str(shown.style)) is warned


def test_an_event_without_actor_shows_a_dash() -> None:
    assert fmt.actor("alice").plain == "alice"
    assert fmt.actor("").plain == "-"


@pytest.mark.parametrize(
    ("processed", "total", "shown"),
    [
        (0, 0, ""),  # no disk copy: nothing to say
        (0, GIB, f"disk: 0 B of {fmt.size(GIB)} copied"),
        (GIB // 2, GIB, f"disk: {fmt.size(GIB // 2)} of {fmt.size(GIB)} copied"),
    ],
)
def test_disk_copy_says_how_much_of_the_local_disks_is_copied(
    processed: int, total: int, shown: str
) -> None:
    migration = engine_pb2.Migration(
        id="m1", disk_processed_bytes=processed, disk_total_bytes=total
    )
    assert fmt.disk_copy(migration) == shown


def _evacuating(left: int, seconds: int | None) -> engine_pb2.Host:
    host = engine_pb2.Host(
        status=engine_pb2.HOST_STATUS_PREPARING_FOR_MAINTENANCE, evacuation_vms_left=left
    )
    if seconds is not None:
        host.evacuation_finish_at.FromDatetime(NOW + timedelta(seconds=seconds))
    return host


def test_an_evacuating_host_shows_vms_left_and_the_predicted_finish() -> None:
    shown = fmt.evacuation(_evacuating(7, 190), NOW)
    assert shown is not None
    assert shown.plain == (
        f"evacuating · 7 VMs left · finish ≈ {NOW + timedelta(seconds=190):%H:%M} (in 3m10s)"
    )
    one = fmt.evacuation(_evacuating(1, None), NOW)
    assert one is not None and one.plain == "evacuating · 1 VM left"
    assert fmt.evacuation(engine_pb2.Host(status=engine_pb2.HOST_STATUS_UP), NOW) is None


@pytest.mark.parametrize(
    ("priority", "overridden", "line"),
    [
        (engine_pb2.MIGRATION_PRIORITY_NORMAL, False, None),
        (engine_pb2.MIGRATION_PRIORITY_HIGH, False, "Priority: high"),
        (engine_pb2.MIGRATION_PRIORITY_LOW, True, "Priority: low (set on the migration)"),
    ],
)
def test_a_migrations_facts_name_a_priority_other_than_normal(
    priority: int, overridden: bool, line: str | None
) -> None:
    from miglane.tui.models import Inventory
    from miglane.tui.views.migrations import _facts

    migration = engine_pb2.Migration(id="m", vm_name="web", priority_overridden=overridden)
    migration.priority = priority  # type: ignore[assignment]
    shown = _facts(migration, Inventory.of([], [], [], [])).plain.splitlines()
    assert [s for s in shown if s.startswith("Priority")] == ([line] if line else [])


def test_priority_labels_round_trip() -> None:
    for label in fmt.PRIORITY_LABELS:
        assert fmt.priority_label(fmt.priority_value(label)) == label


def test_a_bounded_working_set_is_shown_with_the_dirty_rate() -> None:
    vm = engine_pb2.Vm(dirty_rate_bytes_per_second=8 * fmt.MIB)
    assert fmt.dirty_rate(vm).plain == "-"  # not measured yet
    vm.dirty_rate_measured_at.FromSeconds(1_700_000_000)
    assert fmt.dirty_rate(vm).plain == "8.0 MiB/s"  # not bounded
    vm.dirty_working_set_bytes = 4 * fmt.MIB
    assert fmt.dirty_rate(vm).plain == "8.0 MiB/s within 4.0 MiB"
