"""The store's JSON encodings: `plain` gives what `dataclasses.asdict` gives for every model the
store writes as JSON, so the rows written are the same; and a migration with every field set
comes back as it went in."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from miglane.engine.domain.model import (
    BandwidthMode,
    ConvergencePolicy,
    ConvergenceVerdict,
    DiskKind,
    FallbackReason,
    Help,
    HostFacts,
    Migration,
    MigrationPhase,
    MigrationPolicy,
    MigrationPriority,
    Nic,
    PathProof,
    PathVerdict,
    VmDisk,
)
from miglane.engine.store_codecs import migration_from_json, migration_json, plain

NOW = datetime(2026, 3, 4, 5, 6, 7, 8, tzinfo=UTC)


def every_field_set() -> Migration:
    """A migration none of whose fields holds its default."""
    later = NOW + timedelta(seconds=90)
    return Migration(
        "mig-1", "cl-1", "vm-1", "host-1", MigrationPhase.RUNNING, NOW,
        vm_name="web", destination_host_id="host-2", automatic=True, progress_percent=42,
        data_total_bytes=2**34, data_processed_bytes=2**33, data_remaining_bytes=2**32,
        throughput_bps=10**9, dirty_rate_bps=10**7, working_set_bytes=2**30, iteration=3,
        network_id="net-m", migration_uri="tcp://10.9.0.2",
        fallback_reason=FallbackReason.DESTINATION_LINK_DOWN, fallback_detail="link down",
        max_bandwidth_mibps=500, error="none yet", started_at=NOW, finished_at=later,
        downtime_ms=30, queue_reason="waited", eta_s=12, tried_host_ids=("host-3", "host-4"),
        evacuation_host_id="host-1", post_copy=True, disk_total_bytes=2**30,
        disk_processed_bytes=2**29, disk_remaining_bytes=2**29, predicted_finish_at=later,
        verdict=ConvergenceVerdict.CONVERGES, verdict_reason="fast enough",
        bandwidth_override_mibps=400, convergence_help=Help.AUTO_CONVERGE, plan_rank=2,
        planned_destination_host_id="host-2", planned_finish_at=later, planned_outgoing=1,
        path_proof=PathProof(PathVerdict.OFF_PATH, "mig0", 10**9, 2**33, 2**30, "eth0", 10**8),
        priority=MigrationPriority.HIGH, priority_override=MigrationPriority.HIGH,
        granted_mibps=700, admitted_at=NOW, first_data_at=NOW, first_data_bytes=1,
        last_data_at=later, last_data_bytes=2,
    )  # fmt: skip


def test_the_example_sets_every_field() -> None:
    example = every_field_set()
    default = Migration("m", "c", "v", "h", MigrationPhase.QUEUED, NOW - timedelta(days=1))
    unset = [
        f.name for f in fields(Migration) if getattr(example, f.name) == getattr(default, f.name)
    ]
    assert unset == []


MODELS: list[Any] = [
    every_field_set(),
    PathProof(PathVerdict.CONFIRMED, "mig0", 1, 2, 3, "eth0", 4),
    Nic("eth0", ("10.0.1.5/24", "fd00::5/64"), False, 10000, 9000, "52:54:00:00:00:01", 5, 6),
    HostFacts("uuid", "h1", "qemu+tls://h1/system", 8, 32768, 16384, "10.0", "8.2", 2),
    MigrationPolicy(bandwidth_mode=BandwidthMode.CUSTOM, custom_mibps=52, compressed=True,
                    auto_converge=True, convergence=ConvergencePolicy.POST_COPY),
    VmDisk("vda", DiskKind.LOCAL, 2**30, "qcow2", "/images/web-vda.qcow2"),
]  # fmt: skip


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_plain_is_what_asdict_gives(model: Any) -> None:
    assert json.dumps(plain(model), default=str) == json.dumps(asdict(model), default=str)


def test_a_migration_with_every_field_set_comes_back_the_same() -> None:
    migration = every_field_set()
    assert migration_from_json(migration_json(migration)) == migration
