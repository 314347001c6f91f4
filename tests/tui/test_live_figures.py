"""The TUI's live figures without a screen: a migration's history, an evacuation's progress,
a link's migration traffic, and the block-character charts that draw them."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from miglane.tui.charts import GAUGE_EMPTY, GAUGE_FILLED, SPARK_LEVELS, gauge, sparkline
from miglane.tui.models import (
    BYTES_PER_MBIT,
    HISTORY_SAMPLES,
    SAMPLE_INTERVAL_S,
    EvacuationProgress,
    LinkTraffic,
    MigrationBoard,
    MigrationHistory,
    MigrationSample,
    evacuation_progress,
    link_traffic,
)
from miglane.v1 import common_pb2, engine_pb2

QUEUED = common_pb2.MIGRATION_PHASE_QUEUED
PREPARING = common_pb2.MIGRATION_PHASE_PREPARING
RUNNING = common_pb2.MIGRATION_PHASE_RUNNING
COMPLETED = common_pb2.MIGRATION_PHASE_COMPLETED
FAILED = common_pb2.MIGRATION_PHASE_FAILED
CANCELLED = common_pb2.MIGRATION_PHASE_CANCELLED
MIB = 1024 * 1024


class SteppedClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _running(throughput: int, remaining: int = 0, dirty: int = 0) -> engine_pb2.Migration:
    return engine_pb2.Migration(
        id="m1",
        vm_id="vm1",
        phase=RUNNING,
        throughput_bytes_per_second=throughput,
        data_remaining_bytes=remaining,
        dirty_rate_bytes_per_second=dirty,
    )


# ------------------------------------------------------------------ history


@pytest.mark.parametrize(
    ("arrivals", "throughputs"),
    [
        # (seconds after the first update, throughput); one sample per interval
        ([(0.0, 1)], [1]),
        ([(0.0, 1), (0.4, 2), (0.9, 3)], [3]),  # within one interval: the newest wins
        ([(0.0, 1), (1.0, 2), (2.5, 3)], [1, 2, 3]),
        ([(0.0, 1), (3.0, 2)], [1, 1, 1, 2]),  # a silence holds the figures it had
    ],
)
def test_history_keeps_one_sample_an_interval(
    arrivals: list[tuple[float, int]], throughputs: list[int]
) -> None:
    clock = SteppedClock()
    board = MigrationBoard(clock=clock)
    start = clock.now
    for after, throughput in arrivals:
        clock.now = start + after * SAMPLE_INTERVAL_S
        board.apply(_running(throughput))
    samples = board.history("m1")
    assert [s.throughput_bytes_per_second for s in samples] == throughputs
    assert [s.at - start for s in samples] == [
        step * SAMPLE_INTERVAL_S for step in range(len(throughputs))
    ]


def test_history_is_bounded_even_after_a_long_silence() -> None:
    history = MigrationHistory(interval_s=1.0, capacity=5)
    history.add(MigrationSample(0.0, 1, 0, 0))
    history.add(MigrationSample(1000.0, 2, 0, 0))
    assert len(history.samples) == 5
    assert [s.throughput_bytes_per_second for s in history.samples] == [1, 1, 1, 1, 2]
    assert history.samples[-1].at == 1000.0


def test_history_records_running_figures_only_and_ends_with_the_migration() -> None:
    clock = SteppedClock()
    board = MigrationBoard(clock=clock)
    board.apply(engine_pb2.Migration(id="m1", vm_id="vm1", phase=QUEUED))
    assert board.history("m1") == []
    board.apply(_running(5 * MIB, remaining=100 * MIB, dirty=MIB))
    assert board.history("m1") == [MigrationSample(clock.now, 5 * MIB, 100 * MIB, MIB)]
    clock.now += 1
    board.apply(engine_pb2.Migration(id="m1", vm_id="vm1", phase=COMPLETED))
    assert len(board.history("m1")) == 1  # the chart keeps what the migration did
    board.replace_all([])
    assert board.history("m1") == []


def test_history_holds_a_minute() -> None:
    clock = SteppedClock()
    board = MigrationBoard(clock=clock)
    for second in range(HISTORY_SAMPLES + 10):
        clock.now = second * SAMPLE_INTERVAL_S
        board.apply(_running(second))
    samples = board.history("m1")
    assert len(samples) == HISTORY_SAMPLES
    assert samples[-1].throughput_bytes_per_second == HISTORY_SAMPLES + 9


# ------------------------------------------------------------------ evacuation


# A host from an engine without a plan of its evacuation: no evacuation_finish_at.
EVACUATING_HOST = engine_pb2.Host(id="h1")


def _evacuating(
    vm: str,
    phase: int,
    created: int = 0,
    finish: int | None = None,
    host: str = "h1",
    migration_id: str = "",
) -> engine_pb2.Migration:
    migration = engine_pb2.Migration(
        id=migration_id or f"{vm}-{created}",
        vm_id=vm,
        phase=phase,  # type: ignore[arg-type]
        evacuation_host_id=host,
        created_at=Timestamp(seconds=created),
    )
    if finish is not None:
        migration.expected_finish_at.CopyFrom(Timestamp(seconds=finish))
    return migration


@pytest.mark.parametrize(
    ("migrations", "expected"),
    [
        ([], EvacuationProgress()),
        (
            [
                _evacuating("a", COMPLETED),
                _evacuating("b", RUNNING, finish=500),
                _evacuating("c", PREPARING, finish=700),
                _evacuating("d", QUEUED, finish=600),
                _evacuating("e", FAILED),
            ],
            EvacuationProgress(
                left=1, running=2, queued=1, failed=1, predicted_finish=Timestamp(seconds=700)
            ),
        ),
        # a VM counts once, by its newest migration: a failure then a rerun under way
        (
            [_evacuating("a", FAILED, created=1), _evacuating("a", RUNNING, created=2)],
            EvacuationProgress(running=1, unpredicted=1),
        ),
        # cancelled stays on the host; other hosts' and untagged migrations do not count
        (
            [
                _evacuating("a", CANCELLED),
                _evacuating("b", RUNNING, host="h2", finish=900),
                _evacuating("c", RUNNING, host="", finish=900),
            ],
            EvacuationProgress(failed=1),
        ),
        # the finish of the ones still under way; the ended ones' predictions do not count
        (
            [_evacuating("a", COMPLETED, finish=900), _evacuating("b", QUEUED)],
            EvacuationProgress(left=1, queued=1, unpredicted=1),
        ),
    ],
)
def test_evacuation_progress(
    migrations: list[engine_pb2.Migration], expected: EvacuationProgress
) -> None:
    assert evacuation_progress(EVACUATING_HOST, migrations) == expected


def test_evacuation_finish_is_the_engines_plan_when_it_has_one() -> None:
    host = engine_pb2.Host(id="h1", evacuation_finish_at=Timestamp(seconds=1000))
    progress = evacuation_progress(host, [_evacuating("a", RUNNING, finish=500)])
    assert progress.predicted_finish == Timestamp(seconds=1000)


def test_evacuation_total_counts_each_vm() -> None:
    progress = evacuation_progress(
        EVACUATING_HOST,
        [_evacuating("a", COMPLETED), _evacuating("b", RUNNING), _evacuating("c", FAILED)],
    )
    assert progress.total == 3


# ------------------------------------------------------------------ link traffic


NIC = engine_pb2.NetworkAttachment(network_id="mig", nic="eth1", speed_mbit_per_second=10_000)


def _carrying(
    source: str, destination: str, throughput: int, network: str = "mig", phase: int = RUNNING
) -> engine_pb2.Migration:
    return engine_pb2.Migration(
        source_host_id=source,
        destination_host_id=destination,
        network_id=network,
        phase=phase,  # type: ignore[arg-type]
        throughput_bytes_per_second=throughput,
    )


CAPACITY = 10_000 * BYTES_PER_MBIT


@pytest.mark.parametrize(
    ("migrations", "expected"),
    [
        ([], LinkTraffic(0, 0, CAPACITY)),
        (
            [_carrying("h1", "h2", 300 * MIB), _carrying("h1", "h3", 12 * MIB)],
            LinkTraffic(312 * MIB, 0, CAPACITY),
        ),
        ([_carrying("h2", "h1", 40 * MIB)], LinkTraffic(0, 40 * MIB, CAPACITY)),
        # another network's data (a fallback to management) crosses another NIC
        ([_carrying("h1", "h2", 40 * MIB, network="mgmt")], LinkTraffic(0, 0, CAPACITY)),
        # other hosts' migrations, and ones not running, carry nothing over this link
        (
            [
                _carrying("h2", "h3", 40 * MIB),
                _carrying("h1", "h2", 40 * MIB, phase=QUEUED),
                _carrying("h1", "h2", 40 * MIB, phase=COMPLETED),
            ],
            LinkTraffic(0, 0, CAPACITY),
        ),
    ],
)
def test_link_traffic(migrations: list[engine_pb2.Migration], expected: LinkTraffic) -> None:
    assert link_traffic("h1", NIC, migrations) == expected


def test_link_of_unknown_speed_has_no_capacity() -> None:
    nic = engine_pb2.NetworkAttachment(network_id="mig")
    traffic = link_traffic("h1", nic, [_carrying("h1", "h2", MIB)])
    assert traffic == LinkTraffic(MIB, 0, 0)


# ------------------------------------------------------------------ charts

LOW, HIGH = SPARK_LEVELS[0], SPARK_LEVELS[-1]


@pytest.mark.parametrize(
    ("values", "width", "drawn"),
    [
        ([], 3, "   "),
        ([0, 0], 3, f" {LOW}{LOW}"),
        ([5, 5], 2, f"{HIGH}{HIGH}"),
        ([0, 7, 14], 3, f"{LOW}{SPARK_LEVELS[4]}{HIGH}"),  # scaled from 0 to the largest
        ([14, 1, 2, 3], 2, f"{SPARK_LEVELS[5]}{HIGH}"),  # the newest `width` only
        ([1, 2], 0, ""),
    ],
)
def test_sparkline(values: list[int], width: int, drawn: str) -> None:
    assert sparkline(values, width) == drawn


@pytest.mark.parametrize(
    ("used", "capacity", "filled", "style"),
    [
        (0, 100, 0, "green"),
        (1, 100, 1, "green"),  # any use shows
        (50, 100, 4, "green"),
        (80, 100, 6, "yellow"),
        (100, 100, 8, "yellow"),
        (150, 100, 8, "bold red"),
    ],
)
def test_gauge(used: int, capacity: int, filled: int, style: str) -> None:
    drawn = gauge(used, capacity, width=8)
    assert drawn.plain == GAUGE_FILLED * filled + GAUGE_EMPTY * (8 - filled)
    if filled:
        assert drawn.spans[0].style == style


def test_gauge_of_unknown_capacity_is_empty() -> None:
    assert gauge(10, 0, width=4).plain == GAUGE_EMPTY * 4
