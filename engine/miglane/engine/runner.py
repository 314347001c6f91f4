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

from grpc_health.v1 import _async as health_aio  # what `grpc_health.v1.health.aio` re-exports

from miglane.engine.agent_client import AgentClients
from miglane.engine.grpc_api.server import bound_address, create_server
from miglane.engine.inventory import InventoryService
from miglane.engine.orchestrator import MigrationService
from miglane.engine.store import StoreError

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


async def serve(
    listen: str,
    state_dir: Path,
    *,
    example_cluster: bool = False,
    grace_s: float = 5.0,
    poll_interval_s: float = 2.0,
    busy_retry_s: float = 10.0,
    agent_timeout_s: float = 5.0,
) -> None:
    """Serves until SIGTERM or SIGINT, then stops gracefully: health NOT_SERVING, event
    streams ended, in-flight calls given `grace_s`, store closed."""
    try:
        inventory = InventoryService.open(state_dir)
    except StoreError as error:
        raise EngineStartError(str(error)) from None
    migrations = MigrationService(
        inventory,
        AgentClients(call_timeout_s=agent_timeout_s),
        poll_interval_s=poll_interval_s,
        busy_retry_s=busy_retry_s,
    )
    try:
        if example_cluster:
            cluster = await inventory.create_example_cluster()
            if cluster is not None:
                log.info("created the example cluster %r (%s)", cluster.name, cluster.id)
        health = health_aio.HealthServicer()
        try:
            server, port = await create_server(
                listen, inventory, health_servicer=health, migrations=migrations
            )
        except OSError as error:
            raise EngineStartError(str(error)) from None
        await migrations.start()
        await server.start()
        address = bound_address(listen, port)
        log.info("state in %s", state_dir)
        # On stdout, flushed: scripts and tests wait for this line to learn the port.
        print(f"engine listening on {address}", flush=True)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("stopping (grace %.1f s)", grace_s)
        await health.enter_graceful_shutdown()
        inventory.end_streams()
        migrations.end_streams()
        await server.stop(grace_s)
    finally:
        await migrations.stop()
        await inventory.close()
    log.info("stopped")


def run_engine(
    *,
    listen: str,
    state_dir: Path,
    example_cluster: bool,
    grace_s: float,
    log_level: str,
    poll_interval_s: float = 2.0,
    busy_retry_s: float = 10.0,
    agent_timeout_s: float = 5.0,
) -> int:
    logging.basicConfig(
        level=getattr(logging, log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        with state_dir_lock(state_dir):
            asyncio.run(
                serve(
                    listen,
                    state_dir,
                    example_cluster=example_cluster,
                    grace_s=grace_s,
                    poll_interval_s=poll_interval_s,
                    busy_retry_s=busy_retry_s,
                    agent_timeout_s=agent_timeout_s,
                )
            )
    except EngineStartError as error:
        print(f"miglane engine: {error}", file=sys.stderr)
        return 1
    return 0
