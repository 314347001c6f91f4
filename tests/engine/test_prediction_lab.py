"""The migration-time model against real migrations: the lab's tiny guest migrated by libvirt
at a bandwidth cap, its duration compared with `domain.prediction`'s."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from miglane.engine.domain.model import MIB, ConvergenceVerdict
from miglane.engine.domain.prediction import (
    ENGINE_PATH_S,
    MigrationLoad,
    expected_throughput_bps,
    predict,
)

pytestmark = pytest.mark.lab

libvirt = pytest.importorskip("libvirt")

GUEST_MIB = 128
CAP_MIBPS = 32
# |predicted - actual| / actual allowed for one migration: the lab's guests run under TCG on a
# shared 2-core machine, whose scheduling noise alone moves a 4-second migration by ~10%.
ERROR_BOUND = 0.25
# (working set the guest keeps rewriting, in MiB): an idle guest and a dirtying one.
WORKING_SETS = (0, 8)
# How often the tiny guest rewrites its working set at least.
REWRITES_PER_S = 1


def _migrate(lab, name: str, source: str, dest: str) -> tuple[float, dict[str, int]]:  # type: ignore[no-untyped-def]
    """Seconds of a PEER2PEER live migration capped at CAP_MIBPS, and libvirt's statistics of
    the completed job."""
    status = lab.status()
    src, dst = status.host(source), status.host(dest)
    conn = libvirt.open(src.libvirt_uri)
    dconn = libvirt.open(dst.libvirt_uri)
    try:
        dom = conn.lookupByName(name)
        params = {
            libvirt.VIR_MIGRATE_PARAM_URI: dst.migration_uri,
            libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: CAP_MIBPS,
        }
        started = time.monotonic()
        dom.migrateToURI3(
            dst.peer_uri, params, libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
        )
        seconds = time.monotonic() - started
        stats = dconn.lookupByName(name).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        return seconds, stats
    finally:
        dconn.close()
        conn.close()


@pytest.fixture
def guest(lab) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = "t-prediction"
    yield name
    for host in lab.status().hosts:
        with contextlib.suppress(Exception):  # not on that host
            lab.destroy_vm(host.name, name)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("working_set_mib", WORKING_SETS)
def test_predicted_duration_is_within_the_bound_of_a_real_migration(
    lab,
    guest: str,
    working_set_mib: int,  # type: ignore[no-untyped-def]
) -> None:
    lab.create_vm("host2", guest, memory_mib=GUEST_MIB, dirty_mib=working_set_mib)
    seconds, stats = _migrate(lab, guest, "host2", "host3")
    page = stats.get("memory_page_size", 4096)
    # The tiny guest rewrites its working set over and over: libvirt's measured rate when it
    # reports one (it often says 0 once the job is over), else at least once a second.
    measured = stats.get("memory_dirty_rate", 0) * page
    dirty_bps = max(measured, working_set_mib * MIB * REWRITES_PER_S)
    load = MigrationLoad(
        memory_bytes=GUEST_MIB * MIB,
        dirty_rate_bps=dirty_bps,
        working_set_bytes=working_set_mib * MIB if working_set_mib else None,
    )
    # The bare libvirt call, at QEMU's allowed downtime from the start: without the engine's
    # downtime ladder, and without what the engine's path (the agent) adds to it.
    prediction = predict(load, expected_throughput_bps(CAP_MIBPS), downtime_ladder=False)
    bare_s = prediction.duration_s - ENGINE_PATH_S
    error = abs(bare_s - seconds) / seconds
    print(
        f"\nworking set {working_set_mib} MiB at {CAP_MIBPS} MiB/s: predicted "
        f"{bare_s:.2f} s ({len(prediction.rounds)} rounds, "
        f"{prediction.verdict.name}), actual {seconds:.2f} s, error {error:.0%}; libvirt: "
        f"setup {stats.get('setup_time', 0)} ms, downtime {stats.get('downtime', 0)} ms, "
        f"memory {stats.get('memory_processed', 0) / MIB:.0f} MiB at "
        f"{stats.get('memory_bps', 0) / MIB:.1f} MiB/s, dirty rate {dirty_bps / MIB:.1f} MiB/s, "
        f"iterations {stats.get('memory_iteration', 0)}"
    )
    assert prediction.verdict is ConvergenceVerdict.CONVERGES
    assert error <= ERROR_BOUND
