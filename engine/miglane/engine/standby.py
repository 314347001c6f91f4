"""What a follower prepares while another engine leads, so that taking over is quick: every
`every_s` it reads the hosts from the store (read-only) and keeps a channel open to each host's
agent, credentials loaded and TLS handshake done (`AgentClients.prepare`). Nothing is asked of
the agents (a follower has no term to ask under) and nothing is written; what must happen under
the new term (records loaded, jobs taken up, host streams opened) is left to taking charge.
"""

from __future__ import annotations

import asyncio
import logging

from miglane.engine.agent_client import AgentClients
from miglane.engine.host_monitor import StoreReads
from miglane.engine.store import Store

log = logging.getLogger(__name__)

# How often a follower catches up with the hosts the leader added or removed.
STANDBY_EVERY_S = 5.0


class Standby:
    def __init__(
        self, store: StoreReads, clients: AgentClients, *, every_s: float = STANDBY_EVERY_S
    ) -> None:
        self._store = store
        self._clients = clients
        self.every_s = every_s
        self.prepared = 0

    async def prepare(self) -> None:
        """Channels to the agents of the hosts as the store has them now."""
        hosts = await self._store.read(Store.all_hosts)
        await self._clients.prepare({host.agent_address: host.name for host in hosts})
        self.prepared += 1

    async def run(self) -> None:
        """Prepares every `every_s` until cancelled (the engine took charge)."""
        while True:
            try:
                await self.prepare()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next pass tries again; taking over does not need it
                log.exception("follower's preparation failed")
            await asyncio.sleep(self.every_s)
