"""The `miglane agent` subcommand: one agent per hypervisor host."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from miglane.agent.domain.validation import PEER_URI_SCHEME
from miglane.agent.monitor import DEFAULT_POLL_INTERVAL_S
from miglane.agent.saves import DEFAULT_SAVE_DIR
from miglane.agent.service import DEFAULT_MAX_OUTGOING
from miglane.daemon import add_config_option, add_logging_arguments, configure_logging
from miglane.metrics.listen import METRICS_OFF, metrics_listen_argument, parse_metrics_listen

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from miglane.agent.metrics import AgentMetrics
    from miglane.metrics.endpoint import MetricsEndpoint

log = logging.getLogger("miglane.agent")

CREDENTIALS_ENV = "MIGLANE_CREDENTIALS"
# Prometheus metrics: loopback by default (the engine's is 9464).
DEFAULT_METRICS_LISTEN = "127.0.0.1:9465"


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _add_metrics_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metrics-listen",
        type=metrics_listen_argument,
        default=DEFAULT_METRICS_LISTEN,
        metavar="ADDR:PORT",
        help="serve Prometheus metrics on http://ADDR:PORT/metrics (default %(default)s, "
        f"inside the host's network namespace; '{METRICS_OFF}': none)",
    )


def _add_driver_arguments(p: argparse.ArgumentParser) -> None:
    """The hypervisor the agent drives, and how it samples and limits migrations."""
    p.add_argument(
        "--driver",
        choices=["libvirt", "fake"],
        default="libvirt",
        help="hypervisor driver; 'fake' simulates a host with --fake-vms guests",
    )
    p.add_argument(
        "--fake-vms",
        type=int,
        default=2,
        metavar="N",
        help="guests of the fake host (--driver fake)",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        default=DEFAULT_POLL_INTERVAL_S,
        metavar="S",
        help=f"seconds between job-statistics samples (default {DEFAULT_POLL_INTERVAL_S})",
    )
    p.add_argument(
        "--max-outgoing",
        type=_at_least_one,
        default=DEFAULT_MAX_OUTGOING,
        metavar="N",
        help=f"outgoing migrations at once (default {DEFAULT_MAX_OUTGOING}); the engine is told",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "agent",
        help="run the per-host agent (migrations through libvirt)",
        description="Serve AgentService for this host: capabilities, VMs and migrations.",
    )
    p.add_argument(
        "--listen",
        required=True,
        metavar="HOST:PORT",
        help="address to serve gRPC on (port 0: any free port)",
    )
    p.add_argument(
        "--libvirt-uri",
        default="qemu:///system",
        metavar="URI",
        help="how this agent reaches its own libvirtd (default qemu:///system)",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where job records survive a restart (default: none, memory only)",
    )
    p.add_argument(
        "--save-dir",
        default=DEFAULT_SAVE_DIR,
        metavar="DIR",
        help="the only directory hibernations write to, in files the agent names "
        f"(default {DEFAULT_SAVE_DIR})",
    )
    _add_driver_arguments(p)
    p.add_argument(
        "--peer-uri",
        metavar="URI",
        help="libvirt URI other hosts use to reach this host's libvirtd "
        f"(default {PEER_URI_SCHEME}://<listen host>/system)",
    )
    p.add_argument(
        "--credentials",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"this host's credentials (`miglane pki issue-host NAME --address MGMT_ADDR`): "
        f"mutual TLS, only the engine may call (default ${CREDENTIALS_ENV})",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="DEVELOPMENT ONLY: plaintext gRPC, anyone who reaches the port may migrate this "
        "host's VMs (logged as a warning)",
    )
    _add_metrics_argument(p)
    add_logging_arguments(p)
    add_config_option(p)  # last: its keys are the options above
    p.set_defaults(handler=run)


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"--listen {listen!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def default_peer_uri(listen_host: str) -> str:
    host = listen_host
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"{PEER_URI_SCHEME}://{host}/system"


def credentials_dir(args: argparse.Namespace) -> Path | None:
    """The host's credentials directory; None when serving --insecure."""
    if args.insecure:
        return None
    chosen = args.credentials or os.environ.get(CREDENTIALS_ENV)
    if not chosen:
        raise SystemExit(
            "miglane agent: give --credentials DIR (or MIGLANE_CREDENTIALS), the host's "
            "credentials from `miglane pki issue-host NAME --address MGMT_ADDR` "
            "(or --insecure, for development only)"
        )
    return Path(chosen)


def run(args: argparse.Namespace) -> int:
    credentials = credentials_dir(args)
    from miglane.pki import PkiError, load_credentials

    # Every line names this host: the name it was enrolled under, else the machine's.
    host_name = socket.gethostname()
    if credentials is not None:
        try:
            host_name = load_credentials(credentials).info.name
        except PkiError as error:
            raise SystemExit(f"miglane agent: {error}") from None
    configure_logging(args.log_level, args.log_format, fields={"host": host_name})
    return asyncio.run(serve(args, credentials))


async def serve(args: argparse.Namespace, credentials: Path | None) -> int:
    from prometheus_client import CollectorRegistry

    from miglane.agent.driver import HypervisorDriver
    from miglane.agent.grpc_api.server import create_server
    from miglane.agent.metrics import AgentMetrics
    from miglane.agent.nics import tx_bytes_by_nic
    from miglane.agent.service import Agent
    from miglane.metrics.grpc_server import GrpcServerMetrics

    listen_host, _ = split_listen(args.listen)
    peer_uri = args.peer_uri or default_peer_uri(listen_host)
    driver: HypervisorDriver
    nic_counters = tx_bytes_by_nic
    if args.driver == "fake":
        from miglane.agent.fake_driver import FakeDriver, FakeFabric

        fake_host = FakeFabric().add_host(socket.gethostname(), peer_uri=peer_uri)
        for k in range(args.fake_vms):
            fake_host.add_domain(f"fake-vm{k}")
        driver = FakeDriver(fake_host)
        nic_counters = fake_host.nic_tx_bytes
    else:
        from miglane.agent.libvirt_driver import LibvirtDriver

        driver = LibvirtDriver(args.libvirt_uri)
    agent = Agent(
        driver,
        peer_uri=peer_uri,
        state_dir=args.state_dir,
        save_dir=args.save_dir,
        poll_interval=args.poll_interval,
        max_outgoing=args.max_outgoing,
        nic_counters=nic_counters,
    )
    await agent.start()
    registry = CollectorRegistry()
    metrics = AgentMetrics(agent, registry)
    server, port = await create_server(
        agent,
        args.listen,
        credentials_dir=credentials,
        interceptors=[GrpcServerMetrics(registry, "miglane_agent")],
    )
    endpoint = await _metrics_endpoint(args.metrics_listen, registry, metrics)
    shown = f"[{listen_host}]" if ":" in listen_host else listen_host
    log.info(
        "agent listening on %s:%d (peer libvirt URI %s, driver %s)",
        shown,
        port,
        peer_uri,
        args.driver,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping; running migrations go on in libvirt")
    await server.stop(2)
    if endpoint is not None:
        await endpoint.close()
    await agent.stop()
    driver.close()  # handles a connection that is already gone itself
    return 0


async def _metrics_endpoint(
    listen: str, registry: CollectorRegistry, metrics: AgentMetrics
) -> MetricsEndpoint | None:
    """The Prometheus endpoint of `--metrics-listen`; None when off, or when the default
    address is taken (another agent in this network namespace has it: a warning)."""
    from miglane.metrics.endpoint import start_metrics_endpoint

    address = parse_metrics_listen(listen)
    if address is None:
        return None
    try:
        endpoint = await start_metrics_endpoint(*address, registry, metrics.refresh)
    except OSError as error:
        if listen != DEFAULT_METRICS_LISTEN:
            raise SystemExit(f"miglane agent: cannot serve metrics on {listen}: {error}") from None
        log.warning("no metrics: %s is taken (%s); give --metrics-listen", listen, error)
        return None
    log.info("metrics on %s", endpoint.url)
    return endpoint
