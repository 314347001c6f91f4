"""List pagination: page sizes and opaque page tokens.

A token is a keyset cursor (the last key returned) bound to the list and filter it came from,
so that it cannot be replayed against another list or another filter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from miglane.engine.domain.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_TOKEN_MAX = 512
_TOKEN_VERSION = 1

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    size: int
    # Return items whose key is larger than this.
    after: int


@dataclass(frozen=True)
class Listing(Generic[T]):
    items: list[T]
    next_page_token: str = ""


def _scope_digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def page_size(value: int) -> int:
    """0 takes the default; above the maximum is lowered to it; negative is refused."""
    if value < 0:
        raise InvalidArgument(
            "page_size", f"{value} is negative; give 0 (default) to {MAX_PAGE_SIZE}"
        )
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def parse_page(size: int, token: str, scope: str) -> PageRequest:
    """`scope` names the list and its filters (e.g. "networks?cluster=c1")."""
    return PageRequest(size=page_size(size), after=_decode(token, scope) if token else 0)


def next_page_token(scope: str, last_key: int) -> str:
    payload = json.dumps({"v": _TOKEN_VERSION, "s": _scope_digest(scope), "a": last_key})
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode(token: str, scope: str) -> int:
    bad = InvalidArgument(
        "page_token", "is not a token this list returned; start again with an empty page_token"
    )
    if len(token) > _TOKEN_MAX:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad from None
    if (
        not isinstance(payload, dict)
        or payload.get("v") != _TOKEN_VERSION
        or not isinstance(payload.get("a"), int)
        or isinstance(payload.get("a"), bool)
        or payload["a"] < 0
    ):
        raise bad
    if payload.get("s") != _scope_digest(scope):
        raise InvalidArgument(
            "page_token",
            "was returned for another list or other filters; repeat the same filters or start "
            "again with an empty page_token",
        )
    return int(payload["a"])


def page_of(items: list[T], size: int, token: str, scope: str) -> Listing[T]:
    """One page of a list computed afresh on each call rather than read by key from the store
    (e.g. migration candidates): the token holds the position to continue from."""
    page = parse_page(size, token, scope)
    chunk = items[page.after : page.after + page.size]
    end = page.after + len(chunk)
    return Listing(chunk, next_page_token(scope, end) if end < len(items) else "")
