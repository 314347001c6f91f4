"""Why the agent says a migration job failed, as the engine reads it from the job's samples."""

from __future__ import annotations

from enum import IntEnum


class MigrationFailureKind(IntEnum):
    """Mirrors `miglane.v1.MigrationFailureKind`."""

    UNSPECIFIED = 0
    CANCELLED = 2
    NOT_CONVERGING = 3
    DESTINATION = 4
    NETWORK = 5
    OTHER = 6
