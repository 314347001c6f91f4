"""Running the engine as a process: state-dir lock, server lifecycle, signals."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from miglane.daemon import configure_logging
from miglane.engine.app import build_engine
from miglane.engine.config import EngineConfig
from miglane.engine.example_cluster import create_example_cluster
from miglane.engine.store import StoreError
from miglane.engine.store_dialect import redacted

log = logging.getLogger("miglane.engine")

LOCK_NAME = "engine.lock"


class EngineStartError(Exception):
    """The engine cannot start; the message says why."""


@contextmanager
def state_dir_lock(state_dir: Path) -> Iterator[None]:
    """One engine per state dir. The lock is a flock, so the kernel releases it when the
    process dies, even by kill -9."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise EngineStartError(
                f"state dir {state_dir} is in use by another engine (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def say_listening(address: str, log_format: str) -> None:
    """Text: on stdout, flushed, since scripts and tests wait for this line to learn the port.
    JSON: a log line like any other, so that the output is JSON lines throughout."""
    line = f"engine listening on {address}"
    if log_format == "json":
        log.info(line)
    else:
        print(line, flush=True)


async def serve(
    config: EngineConfig, *, example_cluster: bool = False, log_format: str = "text"
) -> None:
    """Serves until SIGTERM or SIGINT, then stops gracefully: health NOT_SERVING, event
    streams ended, in-flight calls given the config's grace, store closed."""
    try:
        engine = await build_engine(config)
    except (StoreError, OSError) as error:
        raise EngineStartError(str(error)) from None
    try:
        if example_cluster:
            cluster = await create_example_cluster(engine.inventory)
            if cluster is not None:
                log.info("created the example cluster %r (%s)", cluster.name, cluster.id)
        await engine.start()
        log.info("state in %s, database %s", config.state_dir, redacted(config.database_url))
        say_listening(engine.address, log_format)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("stopping (grace %.1f s)", config.grace_s)
    finally:
        await engine.stop()
    log.info("stopped")


def run_engine(
    config: EngineConfig, *, example_cluster: bool, log_level: str, log_format: str = "text"
) -> int:
    configure_logging(log_level, log_format)
    try:
        with state_dir_lock(config.state_dir):
            asyncio.run(serve(config, example_cluster=example_cluster, log_format=log_format))
    except EngineStartError as error:
        print(f"miglane engine: {error}", file=sys.stderr)
        return 1
    return 0
