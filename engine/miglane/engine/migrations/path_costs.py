"""PathCosts: the engine's memory of its completed migrations' fixed costs (`domain.path_cost`),
fed as each completes, read by every prediction of a migration not yet started."""

from __future__ import annotations

from collections import deque

from miglane.engine.domain.model import Migration
from miglane.engine.domain.path_cost import OBSERVATION_WINDOW, learned_fixed_s, observed_fixed_s


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

    @property
    def fixed_s(self) -> float:
        """The fixed cost predictions of migrations not yet started count."""
        return learned_fixed_s(list(self._observed))
