"""Log output of the engine and the agent: `--log-level`, `--log-format text|json`, and the
context (migration id, VM, host) stamped on every line logged while handling one of them.

Code that handles a migration or a host says so once, where its task starts or its call is
served (`bind_log_context(migration_id=…, vm_id=…)` in a task of its own, or
`with log_context(…)`), and every line logged within carries the fields: an asyncio task copies
the context it is created in, so the tasks a migration's handler spawns carry them too. A single
call can add its own with `extra={"migration_id": …}`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TextIO

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The fields a line may carry about what it concerns, in the order a JSON line shows them.
CONTEXT_FIELDS = (
    "migration_id",
    "vm_id",
    "vm",
    "host_id",
    "host",
    "destination_host_id",
    "event",
)

_context: ContextVar[Mapping[str, str]] = ContextVar(
    "miglane_log_context", default=MappingProxyType({})
)


def add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="INFO", choices=LOG_LEVELS, help="default INFO")
    parser.add_argument(
        "--log-format",
        default="text",
        choices=LOG_FORMATS,
        help="text (default): one readable line per record; json: one JSON object per line "
        "(time, level, logger, message, and the migration_id, vm_id, host… it concerns)",
    )


def _present(fields: Mapping[str, object]) -> dict[str, str]:
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:  # a typo would silently drop the field from every line
        raise ValueError(f"unknown log context fields {sorted(unknown)}; see CONTEXT_FIELDS")
    return {k: str(v) for k, v in fields.items() if v not in (None, "")}


def bind_log_context(**fields: object) -> None:
    """Adds `fields` to the current context for as long as it lives: call it at the start of
    a task of its own (a migration's monitor, launch, follow-up), whose context ends with it."""
    _context.set({**_context.get(), **_present(fields)})


def clear_log_context() -> None:
    """No fields from here on in the current context: for a task that must not inherit the
    fields of the call or task that created it (it may concern other migrations)."""
    _context.set({})


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """`fields` on every line logged within the block (empty values are left out)."""
    token = _context.set({**_context.get(), **_present(fields)})
    try:
        yield
    finally:
        _context.reset(token)


class _ContextStamp(logging.Filter):
    """Puts the context's fields (and the process's own, e.g. the agent's host) on each record
    as it is logged, in the caller's context; `extra=` given to the call wins."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__()
        self._fields = dict(fields)

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in {**self._fields, **_context.get()}.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the context
    fields the record carries, and the traceback of an exception as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value not in (None, ""):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def log_handler(
    log_format: str, *, fields: Mapping[str, str] | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """A handler writing lines in `log_format` on `stream` (stderr), each stamped with `fields`
    (the process's own, such as the agent's host) and the context's."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: expected one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(_ContextStamp(_present(fields or {})))
    formatter = JsonLineFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    return handler


def configure_logging(
    level: str, log_format: str, *, fields: Mapping[str, str] | None = None
) -> None:
    """The process's root logger: `level`, `log_handler(log_format, fields=fields)`."""
    handler = log_handler(log_format, fields=fields)
    # Not forced: a root logger already set up (a test harness's) is left as it is.
    logging.basicConfig(level=getattr(logging, level), handlers=[handler])
