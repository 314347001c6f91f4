"""Fan-out of published items to any number of watchers that each read at their own pace.

Shared by the engine and the agent, so it imports no other miglane package (import-linter
enforces it): a `Hub` hands each published item to every watcher's own buffer without waiting,
and the buffer's policy decides what a watcher that falls behind keeps (`Fifo`: every item, up
to a limit; `NewestPerKey`: the newest item per key).
"""

from miglane.fanout.buffers import Buffer, Fifo, NewestPerKey
from miglane.fanout.hub import Hub, Watcher, WatcherDropped

__all__ = ["Buffer", "Fifo", "Hub", "NewestPerKey", "Watcher", "WatcherDropped"]
