"""PathCosts: the engine's memory of its completed migrations' fixed costs (`domain.path_cost`),
read back from the store's latest completed migrations when the engine takes charge (a restart
does not forget what it learned), fed as each completes, read by every prediction of a migration
not yet started."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from miglane.engine.domain.model import Migration
from miglane.engine.domain.path_cost import OBSERVATION_WINDOW, learned_fixed_s, observed_fixed_s
from miglane.engine.migrations.ports import StoreAccess
from miglane.engine.store import Store


class PathCosts:
    """Engine-wide (the load of the engine's machine and its agents' is what it measures).
    Used from the event loop's thread only."""

    def __init__(self) -> None:
        self._observed: deque[float] = deque(maxlen=OBSERVATION_WINDOW)

    def completed(self, migration: Migration) -> None:
        """Learns from `migration` if it completed with enough progress samples to tell."""
        observed = observed_fixed_s(migration)
        if observed is not None:
            self._observed.append(observed)

    def seed(self, completed: Iterable[Migration]) -> None:
        """Learns afresh from `completed`, oldest first: the store's record of completed
        migrations holds every one learned from before (`read_back`)."""
        self._observed.clear()
        for migration in completed:
            self.completed(migration)

    async def read_back(self, store: StoreAccess) -> None:
        """Seeds from the store's latest completed migrations (an engine taking charge)."""

        def latest(store: Store) -> list[Migration]:
            return store.latest_completed_migrations(OBSERVATION_WINDOW)

        self.seed(await store.read(latest))

    @property
    def fixed_s(self) -> float:
        """The fixed cost predictions of migrations not yet started count."""
        return learned_fixed_s(list(self._observed))
