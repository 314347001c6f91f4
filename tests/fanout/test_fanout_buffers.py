"""The buffer policies: what a watcher that falls behind keeps, and when it is full."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from miglane.fanout import Buffer, Fifo, NewestPerKey

Item = tuple[str, int]  # (key, version)


def first(item: Item) -> str:
    return item[0]


def offer_all(buffer: Buffer[Item], items: list[Item]) -> list[bool]:
    return [buffer.offer(item) for item in items]


def take_all(buffer: Buffer[Item]) -> list[Item]:
    taken = []
    while buffer:
        taken.append(buffer.take())
    return taken


CASES: list[tuple[str, Callable[[], Buffer[Item]], list[Item], list[bool], list[Item]]] = [
    # name, buffer, offered, offer answers, taken afterwards
    (
        "fifo keeps every item in order",
        lambda: Fifo(3),
        [("a", 1), ("a", 2), ("b", 1)],
        [True, True, True],
        [("a", 1), ("a", 2), ("b", 1)],
    ),
    (
        "fifo refuses beyond its limit and keeps what it had",
        lambda: Fifo(2),
        [("a", 1), ("b", 1), ("c", 1), ("d", 1)],
        [True, True, False, False],
        [("a", 1), ("b", 1)],
    ),
    (
        "newest per key replaces in place, in first-seen order",
        lambda: NewestPerKey(first),
        [("a", 1), ("b", 1), ("a", 2), ("c", 1), ("b", 2)],
        [True] * 5,
        [("a", 2), ("b", 2), ("c", 1)],
    ),
    (
        "newest per key refuses a new key at max_keys",
        lambda: NewestPerKey(first, max_keys=2),
        [("a", 1), ("b", 1), ("c", 1)],
        [True, True, False],
        [("a", 1), ("b", 1)],
    ),
    (
        "newest per key always takes a newer item of a key it holds",
        lambda: NewestPerKey(first, max_keys=1),
        [("a", 1), ("a", 2), ("a", 3), ("b", 1)],
        [True, True, True, False],
        [("a", 3)],
    ),
]


@pytest.mark.parametrize(
    ("make", "offered", "answers", "taken"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_buffer_policy(
    make: Callable[[], Buffer[Item]], offered: list[Item], answers: list[bool], taken: list[Item]
) -> None:
    buffer = make()
    assert offer_all(buffer, offered) == answers
    assert len(buffer) == len(taken)
    assert take_all(buffer) == taken


def test_a_key_taken_out_goes_to_the_back_of_the_line_when_it_returns() -> None:
    buffer = NewestPerKey(first)
    offer_all(buffer, [("a", 1), ("b", 1)])
    assert buffer.take() == ("a", 1)
    offer_all(buffer, [("a", 2), ("b", 2)])
    assert take_all(buffer) == [("b", 2), ("a", 2)]


@pytest.mark.parametrize(
    ("make", "limit"),
    [
        (lambda: Fifo(7), 7),
        (lambda: NewestPerKey(first, 7), 7),
        (lambda: NewestPerKey(first), None),
    ],
    ids=["fifo", "newest per key", "newest per key, unbounded"],
)
def test_limit_reports_the_bound(make: Callable[[], Buffer[Item]], limit: int | None) -> None:
    assert make().limit == limit


@pytest.mark.parametrize(
    "make", [lambda: Fifo(0), lambda: NewestPerKey(first, 0)], ids=["fifo", "newest per key"]
)
def test_a_bound_that_would_drop_every_watcher_is_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()
