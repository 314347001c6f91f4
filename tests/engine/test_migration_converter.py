"""The engine's Migration message carries the domain migration's disk-copy counters."""

from __future__ import annotations

from datetime import UTC, datetime

from miglane.engine.domain.model import Migration, MigrationPhase
from miglane.engine.grpc_api.converters import migration_to_proto


def test_disk_counters_reach_the_message() -> None:
    migration = Migration(
        id="m1",
        cluster_id="c1",
        vm_id="vm1",
        source_host_id="h1",
        phase=MigrationPhase.RUNNING,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        data_total_bytes=3_000,
        disk_total_bytes=2_000,
        disk_processed_bytes=500,
        disk_remaining_bytes=1_500,
    )
    message = migration_to_proto(migration)
    assert (
        message.disk_total_bytes,
        message.disk_processed_bytes,
        message.disk_remaining_bytes,
    ) == (
        migration.disk_total_bytes,
        migration.disk_processed_bytes,
        migration.disk_remaining_bytes,
    )


def test_no_disk_copy_leaves_the_counters_at_zero() -> None:
    migration = Migration(
        id="m1",
        cluster_id="c1",
        vm_id="vm1",
        source_host_id="h1",
        phase=MigrationPhase.RUNNING,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert migration_to_proto(migration).disk_total_bytes == 0
