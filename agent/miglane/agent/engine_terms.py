"""The highest engine term this agent has obeyed, kept in `<state dir>/engine-term` when the
agent has a state dir (so a restarted agent still refuses a deposed leader), else in memory."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from miglane.agent.domain.errors import StaleEngineTerm
from miglane.agent.domain.fencing import judge_engine_term, stale_term_message

log = logging.getLogger(__name__)

TERM_FILE = "engine-term"


class EngineTerms:
    """Used from the event loop's thread (one call admitted at a time)."""

    def __init__(self, state_dir: str | os.PathLike[str] | None) -> None:
        self.path = Path(state_dir, TERM_FILE) if state_dir else None
        self.highest = self._load()

    def _load(self) -> int:
        if self.path is None:
            return 0
        try:
            return int(self.path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as error:  # unreadable: obey again from the next term seen
            log.warning("engine term in %s not read (%s); starting from 0", self.path, error)
            return 0

    def admit(self, offered: int | None) -> None:
        """Lets a call of term `offered` through, remembering a higher term; raises
        StaleEngineTerm for a lower one."""
        verdict = judge_engine_term(self.highest, offered)
        if not verdict.admitted:
            assert offered is not None
            raise StaleEngineTerm(stale_term_message(offered, self.highest))
        if verdict.highest > self.highest:
            log.info("obeying engine term %d from now on", verdict.highest)
            self.highest = verdict.highest
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        written = self.path.with_suffix(".new")
        with open(written, "w") as file:
            file.write(f"{self.highest}\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(written, self.path)
