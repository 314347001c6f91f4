"""Progress: from remaining/total, never backwards, held at 99 until done."""

import pytest

from miglane.agent.domain.job import STALLED_AFTER_MS, JobStatus, apply_sample
from miglane.agent.domain.model import JobStats, MigrationMode
from miglane.agent.domain.progress import Progress, eta_seconds


@pytest.mark.parametrize(
    ("start", "remaining", "total", "expected"),
    [
        (0, 100, 100, 0),
        (0, 50, 100, 50),
        (0, 1, 100, 99),
        (0, 0, 100, 99),  # nothing left but not switched over yet: 99, not 100
        (60, 50, 100, 60),  # a new iteration re-dirtied data: never backwards
        (99, 0, 100, 99),
        (10, 5, 0, 10),  # no figures yet
        (0, 150, 100, 0),  # remaining above total (dirty pages counted late)
        (0, -5, 100, 99),
        (0, 333, 1000, 67),  # 100 - 100*333//1000 (vdsm's formula)
    ],
)
def test_observe(start: int, remaining: int, total: int, expected: int) -> None:
    assert Progress(start).observe(remaining, total).percent == expected


def test_sequence_is_monotonic_and_only_done_reaches_100() -> None:
    progress = Progress()
    seen = []
    for remaining in [100, 80, 40, 70, 30, 0, 20, 0]:
        progress = progress.observe(remaining, 100)
        seen.append(progress.percent)
    assert seen == sorted(seen)
    assert seen[-1] == 99
    assert progress.done().percent == 100


@pytest.mark.parametrize(
    ("remaining", "throughput", "dirty", "expected"),
    [
        (100, 10, 0, 10),
        (101, 10, 0, 11),
        (100, 10, 10, 0),
        (100, 10, 20, 0),
        (0, 10, 0, 0),
        (90, 40, 10, 3),
    ],
)
def test_eta(remaining: int, throughput: int, dirty: int, expected: int) -> None:
    assert eta_seconds(remaining, throughput, dirty) == expected


MEMORY = 100
DISK = 300


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        (  # the disk copy first (memory not counted yet), then the memory's iterations
            [
                JobStats(DISK, 0, DISK, disk_total=DISK, disk_remaining=DISK),
                JobStats(DISK, 150, 150, disk_total=DISK, disk_processed=150, disk_remaining=150),
                JobStats(DISK, 300, 0, disk_total=DISK, disk_processed=300),
                JobStats(DISK + MEMORY, 300, MEMORY, disk_total=DISK, disk_processed=300),
                JobStats(DISK + MEMORY, 350, 50, disk_total=DISK, disk_processed=300),
                JobStats(DISK + MEMORY, 380, 60, disk_total=DISK, disk_processed=300),
                JobStats(DISK + MEMORY, 399, 1, disk_total=DISK, disk_processed=300),
            ],
            [0, 38, 75, 75, 88, 88, 99],  # 88 held: never backwards
        ),
        (  # without a disk copy: memory only, as before
            [JobStats(MEMORY, 0, MEMORY), JobStats(MEMORY, 50, 50), JobStats(MEMORY, 90, 10)],
            [0, 50, 90],
        ),
    ],
)
def test_progress_runs_on_from_the_disk_copy_into_the_memory_copy(
    samples: list[JobStats], expected: list[int]
) -> None:
    status = JobStatus("m", "vm", MigrationMode.LIVE)
    seen = []
    for stats in samples:
        status = apply_sample(status, stats, 1.0, memory_bytes=MEMORY)
        seen.append(status.progress.percent)
    assert seen == expected
    assert status.disk_total == samples[-1].disk_total
    assert status.data_total == samples[-1].data_total


@pytest.mark.parametrize(
    ("processed", "elapsed_ms", "throughput"),
    [
        # Data moved since the last sample: the hypervisor's rate.
        (600, 1500, 50),
        # Nothing moved for half a second of the job's clock (the stream's link dead): none,
        # though the hypervisor still says 50.
        (400, 1500, 0),
        # Nothing moved, the job's clock ran less than STALLED_AFTER_MS: too soon to tell.
        (400, 1000 + STALLED_AFTER_MS - 1, 50),
        (400, 1000 + STALLED_AFTER_MS, 0),
        # The job's clock held (a simulated job paused): not a stall.
        (400, 1000, 50),
    ],
)
def test_a_sample_without_data_moved_reports_no_throughput(
    processed: int, elapsed_ms: int, throughput: int
) -> None:
    before = JobStatus("m", "vm", MigrationMode.LIVE)
    before = apply_sample(before, JobStats(1000, 400, 600, memory_bps=50, elapsed_ms=1000), 1.0)
    assert before.throughput_bps == 50
    after = apply_sample(
        before, JobStats(1000, processed, 1000 - processed, memory_bps=50, elapsed_ms=elapsed_ms), 2
    )
    assert after.throughput_bps == throughput
    if throughput == 0:
        assert after.eta_s == 0  # no ETA without a rate
