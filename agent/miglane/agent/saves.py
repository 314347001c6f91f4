"""The agent's save directory: the only place hibernations write to and restores read from."""

from __future__ import annotations

import os

from miglane.agent.domain.errors import FailedPrecondition, InvalidArgument
from miglane.agent.domain.validation import save_file_name

# The only directory hibernations write to (`miglane agent --save-dir`).
DEFAULT_SAVE_DIR = "/var/lib/miglane/saves"


class SaveDir:
    """Files of the save directory are named by the agent; requests name none of their own."""

    def __init__(self, path: str = DEFAULT_SAVE_DIR) -> None:
        self.path = os.path.realpath(path)

    def file_for(self, vm_id: str, migration_id: str) -> str:
        """Where a hibernation of this VM and migration saves to (the directory is made 0700
        when missing)."""
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
        except OSError as e:
            raise FailedPrecondition(
                f"the save directory {self.path} cannot be created: {e.strerror}"
            ) from e
        return os.path.join(self.path, save_file_name(vm_id, migration_id))

    def saved_file(self, path: str, field: str = "path") -> str:
        """The file of the save directory `path` names (a file name, or a path inside the
        directory); anything outside it is refused (INVALID_ARGUMENT on `field`)."""
        if not path:
            raise InvalidArgument(
                "path is empty: give the file a hibernation saved to", field=field
            )
        resolved = os.path.realpath(os.path.join(self.path, path))
        if os.path.dirname(resolved) != self.path:
            raise InvalidArgument(
                f"{path!r} is not a file of this agent's save directory {self.path}; "
                "restore only what a hibernation saved",
                field=field,
            )
        return resolved
