"""In-process fake agents for tests and scale runs (the engine's tests use these).

    fabric, agents = await start_fake_agents(3, vms_per_host=2, speed=20.0)
    ... talk to agents[0].address with an AgentService stub ...
    await stop_fake_agents(agents)

Each agent is a real grpc.aio server on 127.0.0.1:<free port> over a `FakeDriver`; all share
one `FakeFabric`, so VMs really move between them (and its links, with their speeds and
failures, carry their data).

A fleet (`start_fleet`) is the same at data-centre scale, for scale tests and benchmarks:
hundreds or thousands of agents served from this one process, each on its own loopback address
(`fleet_address`: 127.64.0.1, 127.64.0.2, ...), so the engine sees as many hosts as there are
agents, each with its own address and certificate. A host's NICs are given per host, so the
engine can put hosts on (or off) its logical networks.

Every agent serves mutual TLS with host credentials issued by `authority` (give the engine's,
`CertificateAuthority.init(<engine pki dir>)`, so the engine reaches them; without one, a CA of
their own is made in the state root), named as the engine must add the host: `agent.name`.
`agent.channel()` dials one with the engine's identity. `insecure=True` serves plaintext instead,
for an engine built `insecure` (development mode, and the benchmark measuring what trust costs).
"""

from __future__ import annotations

import functools
import ipaddress
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from prometheus_client import CollectorRegistry

from miglane.agent.domain.model import Nic
from miglane.agent.fake_driver import FakeClock, FakeDriver, FakeFabric, FakeHost
from miglane.agent.grpc_api.server import create_server
from miglane.agent.metrics import AgentMetrics
from miglane.agent.service import DEFAULT_MAX_OUTGOING, Agent
from miglane.grpctls import secure_channel
from miglane.metrics.endpoint import MetricsEndpoint, start_metrics_endpoint
from miglane.metrics.grpc_server import GrpcServerMetrics
from miglane.pki import CertificateAuthority, Credentials, load_credentials

LOOPBACK = "127.0.0.1"
# A fleet's agents take consecutive addresses from here on (the loopback range is 127.0.0.0/8;
# Linux answers on all of it without configuration).
FLEET_FIRST_ADDRESS = ipaddress.IPv4Address("127.64.0.1")
FLEET_SIZE_MAX = 4_000_000


def fleet_address(index: int) -> str:
    """The loopback address of a fleet's agent `index` (0-based)."""
    if not 0 <= index < FLEET_SIZE_MAX:
        raise ValueError(f"a fleet has at most {FLEET_SIZE_MAX} agents, not index {index}")
    return str(FLEET_FIRST_ADDRESS + index)


def shared_loopback(index: int) -> str:
    """Every agent on 127.0.0.1 (its own port)."""
    return LOOPBACK


@dataclass
class FakeAgent:
    """One running fake agent: its address, its fake host and its in-process parts."""

    name: str
    address: str
    host: FakeHost
    driver: FakeDriver
    agent: Agent
    server: grpc.aio.Server
    state_dir: str
    vm_ids: list[str]
    # The CA that issued the agent's host credentials (its engine identity may call it).
    authority: CertificateAuthority
    # None: the agent serves plaintext.
    credentials_dir: Path | None
    # The host name its certificate holds: what the engine must add it as.
    identity: str
    # The state root `start_fake_agents` made itself (none was given): removed on stop.
    temporary_state_root: str | None = None
    # Its Prometheus endpoint on 127.0.0.1:<free port> (`start_fake_agents(metrics=True)`).
    metrics_endpoint: MetricsEndpoint | None = None

    @property
    def peer_uri(self) -> str:
        return self.host.peer_uri

    def channel(self, credentials: Credentials | None = None) -> grpc.aio.Channel:
        """A channel to this agent, checking it is `name`, as `credentials` (default: the
        engine's identity, the only one an agent obeys); plaintext to a plaintext agent."""
        if self.credentials_dir is None:
            return grpc.aio.insecure_channel(self.address)
        caller = credentials or load_credentials(self.authority.layout.engine)
        return secure_channel(self.address, caller, server_name=self.identity)

    async def stop(self, grace: float = 0.5) -> None:
        await self.server.stop(grace)
        if self.metrics_endpoint is not None:  # it reads this agent: not kept over a restart
            await self.metrics_endpoint.close()
            self.metrics_endpoint = None
        await self.agent.stop()

    async def restart(self) -> None:
        """A new agent process over the same host and state dir (jobs keep running)."""
        await self.stop(0)
        measure_dirty_rates = self.agent.dirty_rates.enabled
        self.agent = Agent(
            self.driver,
            peer_uri=self.host.peer_uri,
            state_dir=self.state_dir,
            save_dir=self.agent.saves.path,
            poll_interval=self.agent.monitor.poll_interval,
            max_outgoing=self.agent.max_outgoing,
            nic_source=self.agent.nic_source,
            nic_counters=self.host.nic_tx_bytes,
            timeout_clock=self.agent.monitor.timeout_clock,
        )
        self.agent.dirty_rates.enabled = measure_dirty_rates
        await self.agent.start()
        self.server, _ = await create_server(
            self.agent, self.address, credentials_dir=self.credentials_dir
        )


def default_nics(index: int) -> list[Nic]:
    """Host `index` (0-based) on a management 10.0.0.0/16 and a migration 10.1.0.0/16 network."""
    a, b = divmod(index + 1, 250)
    return [
        Nic("eth0", f"52:54:00:00:{a:02x}:{b:02x}", (f"10.0.{a}.{b}/16",), True, 10000, 1500),
        Nic("mig0", f"52:54:00:01:{a:02x}:{b:02x}", (f"10.1.{a}.{b}/16",), True, 10000, 9000),
    ]


async def _serve(
    agent: Agent, address: str, credentials_dir: Path | None, metrics: bool
) -> tuple[grpc.aio.Server, int, MetricsEndpoint | None]:
    """The agent's gRPC server on `address` (HOST:PORT, port 0: a free one) and, with
    `metrics`, its Prometheus endpoint on a free loopback port, the server's calls counted."""
    registry = CollectorRegistry()
    server, port = await create_server(
        agent,
        address,
        credentials_dir=credentials_dir,
        interceptors=[GrpcServerMetrics(registry, "miglane_agent")] if metrics else [],
    )
    if not metrics:
        return server, port, None
    collector = AgentMetrics(agent, registry)
    return server, port, await start_metrics_endpoint(LOOPBACK, 0, registry, collector.refresh)


def _host_credentials(authority: CertificateAuthority, identity: str, address: str) -> Path:
    """The fake host's credentials directory, its certificate naming `address`."""
    authority.issue_host(identity, [address])
    return authority.layout.host(identity)


async def start_fake_agents(
    n: int,
    vms_per_host: int = 0,
    *,
    vm_memory_mib: int = 256,
    speed: float = 1.0,
    fabric: FakeFabric | None = None,
    poll_interval: float = 0.5,
    max_outgoing: int = DEFAULT_MAX_OUTGOING,
    nics: Callable[[int], Sequence[Nic]] = default_nics,
    state_root: str | None = None,
    name_prefix: str = "host",
    authority: CertificateAuthority | None = None,
    identities: Sequence[str] | None = None,
    insecure: bool = False,
    measure_dirty_rates: bool = True,
    metrics: bool = False,
    address_of: Callable[[int], str] = shared_loopback,
    port: int = 0,
    simulated_timeouts: bool = False,
) -> tuple[FakeFabric, list[FakeAgent]]:
    """Starts `n` fake agents with `vms_per_host` running VMs each (named `<host>-vm<k>`),
    agent `i` on `address_of(i)`, port `port` (0: a free one); the fabric's clock runs `speed`
    times faster than real time. Each gets host credentials from `authority` (see the module's
    docstring), for the host name the engine will add it as: `identities[i]`, by default its
    own name; or, `insecure`, none (plaintext). Without `measure_dirty_rates` the agents report
    only the dirty rates set on their `dirty_rates`. With `metrics`, each serves Prometheus
    metrics on a free loopback port, calls counted (`FakeAgent.metrics_endpoint`).
    `simulated_timeouts`: the agents' timeouts count the fabric's seconds (real ones a sped-up
    clock would stretch)."""
    fabric = fabric or FakeFabric(FakeClock(speed))
    temporary_state_root = None
    if not state_root:
        state_root = temporary_state_root = tempfile.mkdtemp(prefix="miglane-fake-agents-")
    if authority is None:
        authority = CertificateAuthority.init(Path(state_root) / "pki")
    agents = []
    for i in range(n):
        name = f"{name_prefix}{i}"
        host_nics = list(nics(i))
        host = fabric.add_host(name, nics=tuple(host_nics))
        vm_ids = [
            host.add_domain(f"{name}-vm{k}", memory_mib=vm_memory_mib) for k in range(vms_per_host)
        ]
        driver = FakeDriver(host)
        state_dir = f"{state_root}/{name}"
        agent = Agent(
            driver,
            peer_uri=host.peer_uri,
            state_dir=state_dir,
            save_dir=f"{state_dir}/saves",
            poll_interval=poll_interval,
            max_outgoing=max_outgoing,
            nic_source=functools.partial(list, host_nics),
            nic_counters=host.nic_tx_bytes,
            timeout_clock=fabric.clock.now if simulated_timeouts else time.monotonic,
        )
        agent.dirty_rates.enabled = measure_dirty_rates
        await agent.start()
        identity = identities[i] if identities else name
        address = address_of(i)
        credentials_dir = None if insecure else _host_credentials(authority, identity, address)
        server, bound, endpoint = await _serve(agent, f"{address}:{port}", credentials_dir, metrics)
        agents.append(
            FakeAgent(
                *(name, f"{address}:{bound}", host, driver, agent, server, state_dir, vm_ids),
                *(authority, credentials_dir, identity, temporary_state_root, endpoint),
            )
        )
    return fabric, agents


async def start_fleet(
    n: int,
    vms_per_host: int = 0,
    *,
    port: int = 0,
    speed: float = 1.0,
    fabric: FakeFabric | None = None,
    **options: Any,
) -> tuple[FakeFabric, list[FakeAgent]]:
    """`n` fake agents in this process, agent `i` on `fleet_address(i)` (its own loopback
    address, so `port` may be the same for all), sharing one fabric; the other options are
    `start_fake_agents`'s. Their dirty rates are not measured unless asked (a fleet's CPU goes
    to serving the engine)."""
    options.setdefault("measure_dirty_rates", False)
    return await start_fake_agents(
        n,
        vms_per_host,
        speed=speed,
        fabric=fabric,
        address_of=fleet_address,
        port=port,
        **options,
    )


async def stop_fake_agents(agents: Sequence[FakeAgent], grace: float = 0.5) -> None:
    """Stops the agents and removes the state root `start_fake_agents` made for them."""
    for agent in agents:
        await agent.stop(grace)
    for root in {a.temporary_state_root for a in agents if a.temporary_state_root}:
        shutil.rmtree(root, ignore_errors=True)
