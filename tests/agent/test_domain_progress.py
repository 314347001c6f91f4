"""Progress: from remaining/total, never backwards, held at 99 until done."""

import pytest

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
