"""What a watcher that falls behind keeps: the buffer policies a `Hub` can give its watchers."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class Buffer(Protocol[T]):
    """One watcher's unread items."""

    @property
    def limit(self) -> int | None:
        """How many items the buffer holds before it refuses one; None: no bound."""
        ...

    def offer(self, item: T) -> bool:
        """Keeps `item`, or returns False when it is full (the hub then drops the watcher)."""
        ...

    def take(self) -> T:
        """Removes and returns the item to deliver next (the buffer is not empty)."""
        ...

    def __len__(self) -> int: ...


class Fifo(Generic[T]):
    """Every item, in order, up to `limit` unread ones: for items that matter one by one."""

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a buffer limit of {limit} would drop every watcher")
        self._limit = limit
        self._items: deque[T] = deque()

    @property
    def limit(self) -> int:
        return self._limit

    def offer(self, item: T) -> bool:
        if len(self._items) >= self._limit:
            return False
        self._items.append(item)
        return True

    def take(self) -> T:
        return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)


class NewestPerKey(Generic[T, K]):
    """The newest item per `key(item)`, in the order the keys first became unread: for items
    that matter only until a newer one of the same key arrives. A slow reader finds one
    up-to-date item per key that changed meanwhile, so the buffer never holds more entries than
    there are keys. Full at `max_keys` distinct keys (None: no bound); replacing the item of a
    key already held never is."""

    __slots__ = ("_items", "_key", "_max_keys")

    def __init__(self, key: Callable[[T], K], max_keys: int | None = None) -> None:
        if max_keys is not None and max_keys < 1:
            raise ValueError(f"a buffer limit of {max_keys} would drop every watcher")
        self._key = key
        self._max_keys = max_keys
        self._items: OrderedDict[K, T] = OrderedDict()

    @property
    def limit(self) -> int | None:
        return self._max_keys

    def offer(self, item: T) -> bool:
        key = self._key(item)
        if key in self._items:
            self._items[key] = item  # a replaced entry keeps its place in line
            return True
        if self._max_keys is not None and len(self._items) >= self._max_keys:
            return False
        self._items[key] = item
        return True

    def take(self) -> T:
        return self._items.popitem(last=False)[1]

    def __len__(self) -> int:
        return len(self._items)
