"""Table tests of how clients pick the engine to ask: the address list, which failures send
them elsewhere, and where to."""

from __future__ import annotations

import pytest

from miglane.v1.leadership import NOT_LEADER, engine_addresses, is_redirect, next_engine

ABC = ("a:1", "b:1", "c:1")


@pytest.mark.parametrize(
    ("text", "addresses"),
    [
        ("a:1", ("a:1",)),
        ("a:1,b:1,c:1", ABC),
        (" a:1 , b:1,,c:1, ", ABC),
        ("a:1,b:1,a:1", ("a:1", "b:1")),
    ],
)
def test_engine_addresses(text: str, addresses: tuple[str, ...]) -> None:
    assert engine_addresses(text) == addresses


@pytest.mark.parametrize("text", ["", " , ,"])
def test_no_engine_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="no engine address"):
        engine_addresses(text)


@pytest.mark.parametrize(
    ("code", "reason", "redirect"),
    [
        ("UNAVAILABLE", NOT_LEADER, True),
        ("UNAVAILABLE", "", True),
        ("UNAVAILABLE", "SOMETHING_ELSE", False),
        ("FAILED_PRECONDITION", "STATE_CONFLICT", False),
        ("PERMISSION_DENIED", "PERMISSION_DENIED", False),
    ],
)
def test_is_redirect(code: str, reason: str, redirect: bool) -> None:
    assert is_redirect(code, reason) is redirect


@pytest.mark.parametrize(
    ("current", "leader", "chosen"),
    [
        ("a:1", "c:1", "c:1"),  # the follower named the leader
        ("a:1", "", "b:1"),  # none named: the next
        ("c:1", "", "a:1"),  # round and round
        ("b:1", "b:1", "c:1"),  # a deposed leader naming itself: the next
        ("a:1", "d:1", "d:1"),  # a leader not listed is still asked
        ("d:1", "", "a:1"),  # after an unlisted one: the first listed
    ],
)
def test_next_engine(current: str, leader: str, chosen: str) -> None:
    assert next_engine(ABC, current, leader) == chosen
