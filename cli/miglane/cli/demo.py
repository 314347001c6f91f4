"""`miglane demo`: the whole system on one machine (what `make run` and `make down` call).

As root with libvirt available: a lab of real hosts with agents. Otherwise: the same stack on
the fake driver, said plainly. Then the engine, a cluster with a management and a migration
network (role granted), the hosts, a few running VMs, and the TUI. Quitting the TUI leaves the
stack running for the CLI; `miglane demo down` stops everything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miglane.cli.engine_client import CommandError

ENGINE_ADDRESS = "127.0.0.1:50051"
DATABASES = ("sqlite", "postgresql")
DATABASE_ENV = "MIGLANE_DEMO_DATABASE"
DEMO_HOSTS = 3
MGMT_SUBNET = "10.231.1.0/24"
MIG_SUBNET = "10.231.2.0/24"
# QoS of the demo's migration network: AUTO bandwidth gives ~47 MiB/s, shared by the migrations
# on a link, so that a migration lasts long enough to watch.
MIG_QOS_MBPS = 400
# (host index, VM name, memory MiB, MiB it keeps dirtying)
DEMO_VMS = [(0, "web1", 128, 0), (0, "db1", 192, 8), (1, "app1", 128, 0), (1, "batch1", 256, 16)]
FAKE_BANNER = (
    "DEMO ON THE FAKE DRIVER: no root or no libvirt here, so the hosts are simulated "
    "(real gRPC agents, simulated memory copy)."
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="the whole system on this machine (make run / make down)")
    verbs = demo.add_subparsers(dest="verb", required=True, metavar="VERB")
    up = verbs.add_parser("up", help="bring the stack up (idempotent) and open the TUI")
    up.add_argument("--fake", action="store_true", help="use the fake driver even as root")
    up.add_argument("--no-tui", action="store_true", help="do not open the TUI")
    up.add_argument("--base-dir", type=Path, default=None, help="where the demo keeps its state")
    up.add_argument(
        "--database",
        choices=DATABASES,
        default=os.environ.get(DATABASE_ENV, "sqlite"),
        help="the engine's store: SQLite in its state dir (default), or a private PostgreSQL "
        f"server the demo starts in its base dir (needs Debian's postgresql; ${DATABASE_ENV})",
    )
    up.set_defaults(handler=_run(_up))
    down = verbs.add_parser("down", help="stop everything the demo started")
    down.add_argument("--base-dir", type=Path, default=None)
    down.set_defaults(handler=_run(_down))
    status = verbs.add_parser("status", help="what runs")
    status.add_argument("--base-dir", type=Path, default=None)
    status.set_defaults(handler=_run(_status))
    fleet = verbs.add_parser("fake-fleet", help=argparse.SUPPRESS)
    fleet.add_argument("--addresses-file", type=Path, required=True)
    fleet.add_argument("--state-dir", type=Path, required=True)
    fleet.add_argument("--pki-dir", type=Path, required=True)
    fleet.set_defaults(handler=_run(_fake_fleet))


def _run(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args) or 0)
        except CommandError as error:
            print(f"miglane demo: {error}", file=sys.stderr)
            return 1

    return run


@dataclass(frozen=True)
class DemoPaths:
    base: Path
    # The lab's base dir; None: <base>/lab.
    lab: Path | None = None

    @classmethod
    def choose(cls, base: Path | None) -> DemoPaths:
        """`base` (--base-dir), else $MIGLANE_DEMO_DIR, else the default for this user. With
        the default, the lab is the `miglane lab` commands' default lab, so that the README's
        `miglane lab link host3 mig down` acts on the demo's hosts."""
        if base is not None:
            return cls(base)
        env = os.environ.get("MIGLANE_DEMO_DIR")
        if env:
            return cls(Path(env))
        if os.geteuid() == 0:
            from miglane.lab import default_base_dir as default_lab_dir

            return cls(Path("/var/lib/miglane-demo"), lab=default_lab_dir())
        return cls(Path.home() / ".local" / "state" / "miglane-demo")

    @property
    def state_file(self) -> Path:
        return self.base / "demo.json"

    @property
    def engine_dir(self) -> Path:
        return self.base / "engine"

    @property
    def engine_log(self) -> Path:
        return self.base / "engine.log"

    @property
    def fleet_log(self) -> Path:
        return self.base / "fake-fleet.log"

    @property
    def fleet_addresses(self) -> Path:
        return self.base / "fake-fleet.json"

    @property
    def postgres_dir(self) -> Path:
        """The private PostgreSQL server of `up --database postgresql`."""
        return self.base / "postgres"

    @property
    def lab_dir(self) -> Path:
        return self.lab or self.base / "lab"

    @property
    def fake_pki_dir(self) -> Path:
        """The CA of the fake hosts' and the engine's identities (kept across `down`, like the
        admin's credentials it issued)."""
        return self.base / "pki"

    @property
    def admin_dir(self) -> Path:
        """The demo's own admin identity: what `up` configures the engine with."""
        return self.base / "admin"

    def pki_dir(self, mode: str) -> Path:
        """The engine's PKI: on the lab, the lab's CA (its agents' credentials come from it)."""
        if mode == "lab":
            from miglane.lab import Lab

            return Lab(self.lab_dir).pki_dir
        return self.fake_pki_dir


# ---------------------------------------------------------------- up


def _up(args: argparse.Namespace) -> int:
    paths = DemoPaths.choose(args.base_dir)
    paths.base.mkdir(parents=True, exist_ok=True)
    state = _load_state(paths)
    mode, hosts, why_fake = _start_hosts(paths, state, force_fake=args.fake)
    state["mode"] = mode
    _save_state(paths, state)
    pki_dir = paths.pki_dir(mode)
    tui_credentials = _issue_admins(paths, pki_dir)
    state["database"] = _start_database(paths, args.database)
    _save_state(paths, state)
    engine_pid = _ensure_engine(paths, state, pki_dir)
    state["engine_pid"] = engine_pid
    _save_state(paths, state)
    _configure_engine(hosts, mode, paths.admin_dir)
    print(f"engine: {ENGINE_ADDRESS} (log {paths.engine_log})")
    if state["database"]:
        print(f"engine store: PostgreSQL in {paths.postgres_dir} ({state['database']})")
    for host in hosts:
        print(f"host {host['name']}: agent {host['agent']}")
    if mode == "fake":
        print(f"\n*** {FAKE_BANNER}")
        if why_fake:
            print(f"*** why: {why_fake}")
    print(
        f"\nTry: miglane --help; miglane hosts list --engine {ENGINE_ADDRESS}; "
        "`make down` (miglane demo down) stops everything."
    )
    if args.no_tui:
        return 0
    time.sleep(0.5)
    tui = [sys.executable, "-m", "miglane.cli.main", "tui", "--engine", ENGINE_ADDRESS]
    tui += ["--credentials", str(tui_credentials)]
    os.execv(sys.executable, tui)  # quitting the TUI leaves the stack running
    return 0  # pragma: no cover


def _start_hosts(
    paths: DemoPaths, state: dict[str, Any], force_fake: bool
) -> tuple[str, list[dict[str, str]], str]:
    why_fake = "--fake was given" if force_fake else ""
    if not force_fake:
        if os.geteuid() != 0:
            why_fake = "not running as root (the lab's namespaces and libvirtd need root)"
        else:
            try:
                return "lab", _start_lab(paths), ""
            except Exception as error:  # the lab says what is missing; fall back, visibly
                why_fake = f"the lab could not start: {error}"
                print(f"miglane demo: {why_fake}", file=sys.stderr)
    return "fake", _start_fake_fleet(paths, state), why_fake


def _start_lab(paths: DemoPaths) -> list[dict[str, str]]:
    from miglane.lab import Lab

    lab = Lab(paths.lab_dir)
    print("bringing up the lab (3 hosts with agents; first time installs Debian packages)…")
    status = lab.up(hosts=DEMO_HOSTS, agents=True)
    existing = {(vm.host, vm.name) for vm in lab.list_vms()}
    for index, name, memory, dirty in DEMO_VMS:
        host = status.hosts[index].name
        if (host, name) not in existing:
            lab.create_vm(host, name, memory_mib=memory, dirty_mib=dirty)
    return [{"name": h.name, "agent": h.agent_addr or ""} for h in status.hosts]


def _start_fake_fleet(paths: DemoPaths, state: dict[str, Any]) -> list[dict[str, str]]:
    pid = state.get("fleet_pid")
    if _fleet_running(paths, pid) and paths.fleet_addresses.exists():
        return list(json.loads(paths.fleet_addresses.read_text()))
    paths.fleet_addresses.unlink(missing_ok=True)
    from miglane.pki import CertificateAuthority

    CertificateAuthority.init(paths.fake_pki_dir)  # the fake agents' credentials come from it
    command = [sys.executable, "-m", "miglane.cli.main", "demo", "fake-fleet"]
    command += ["--addresses-file", str(paths.fleet_addresses)]
    command += ["--state-dir", str(paths.base / "fake-agents")]
    command += ["--pki-dir", str(paths.fake_pki_dir)]
    state["fleet_pid"] = _spawn(command, paths.fleet_log)
    _save_state(paths, state)
    deadline = time.monotonic() + 30
    while not paths.fleet_addresses.exists():
        if time.monotonic() > deadline or not _fleet_running(paths, state["fleet_pid"]):
            raise CommandError(f"the fake agents did not start; see {paths.fleet_log}")
        time.sleep(0.1)
    return list(json.loads(paths.fleet_addresses.read_text()))


# Marks credentials the demo put at the clients' default location: those it may replace when
# the demo's CA changed (a new lab); anyone else's it never touches.
DEMO_MARK = ".issued-by-miglane-demo"


def _issue_admins(paths: DemoPaths, pki_dir: Path) -> Path:
    """An admin identity for the demo itself, and one at the clients' default location when
    none is there yet (or the demo's own from an earlier CA), so `miglane ...` and
    `miglane tui` work without a flag. Returns the credentials the demo's TUI uses."""
    from miglane.pki import CERT, CertificateAuthority, Role, default_credentials_dir

    authority = CertificateAuthority.init(pki_dir)
    if not _issued_by(paths.admin_dir, authority.ca_pem):
        shutil.rmtree(paths.admin_dir, ignore_errors=True)  # from an earlier CA
        authority.issue("demo-admin", Role.ADMIN, paths.admin_dir)
    default = default_credentials_dir()
    if _issued_by(default, authority.ca_pem):
        return default
    if (default / CERT).exists() and not (default / DEMO_MARK).exists():
        print(
            f"miglane demo: {default} holds someone's credentials of another CA; the TUI uses "
            f"{paths.admin_dir}, and so can the CLI: --credentials {paths.admin_dir}",
            file=sys.stderr,
        )
        return paths.admin_dir
    shutil.rmtree(default, ignore_errors=True)  # absent, or the demo's own from an earlier CA
    authority.issue("admin", Role.ADMIN, default)
    (default / DEMO_MARK).write_text("issued by `miglane demo up`; replaced when its CA changes\n")
    print(f"admin credentials for the CLI and the TUI: {default}")
    return default


def _issued_by(directory: Path, ca_pem: bytes) -> bool:
    from miglane.pki import CA_CERT, CERT

    try:
        return (directory / CERT).exists() and (directory / CA_CERT).read_bytes() == ca_pem
    except OSError:
        return False


def _ensure_engine(paths: DemoPaths, state: dict[str, Any], pki_dir: Path) -> int:
    running = state.get("engine_pid")
    answers = _engine_answers(paths.admin_dir)
    if isinstance(running, int) and _engine_running(paths, running) and answers:
        return running
    pid = _spawn(engine_command(paths, pki_dir, state.get("database") or ""), paths.engine_log)
    deadline = time.monotonic() + 30
    while not _engine_answers(paths.admin_dir):
        if time.monotonic() > deadline or not _engine_running(paths, pid):
            raise CommandError(
                f"the engine did not start on {ENGINE_ADDRESS}; see {paths.engine_log}"
            )
        time.sleep(0.2)
    return pid


def engine_command(paths: DemoPaths, pki_dir: Path, database: str) -> list[str]:
    """The demo engine's command line; `database` a PostgreSQL URL, or empty for SQLite."""
    command = [sys.executable, "-m", "miglane.cli.main", "engine", "--listen", ENGINE_ADDRESS]
    command += ["--state-dir", str(paths.engine_dir), "--pki-dir", str(pki_dir)]
    if database:
        command += ["--database", database]
    return command


def _start_database(paths: DemoPaths, choice: str) -> str:
    """The PostgreSQL URL of the demo's own server, started (made the first time); empty for
    SQLite, which needs no server."""
    if choice != "postgresql":
        return ""
    from miglane.lab.postgres import PostgresUnavailable, PrivatePostgres

    try:
        return PrivatePostgres(paths.postgres_dir).start().url
    except PostgresUnavailable as error:
        raise CommandError(str(error)) from None


def _engine_answers(credentials: Path) -> bool:
    import grpc

    from miglane.cli.engine_client import engine_stub
    from miglane.v1 import engine_pb2

    with engine_stub(ENGINE_ADDRESS, credentials) as stub:
        try:
            stub.ListClusters(engine_pb2.ListClustersRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return True


def _configure_engine(hosts: list[dict[str, str]], mode: str, credentials: Path) -> None:
    """The demo cluster: management and migration networks (role granted) and the hosts."""
    from miglane.cli.engine_client import (
        call,
        engine_stub,
        list_clusters,
        list_hosts,
        list_networks,
    )
    from miglane.v1 import common_pb2, engine_pb2

    address = ENGINE_ADDRESS
    description = (
        "Miglane demo on real libvirt hosts (miglane lab)" if mode == "lab" else FAKE_BANNER
    )
    with engine_stub(address, credentials) as stub:
        cluster = next((c for c in list_clusters(stub, address) if c.name == "Default"), None)
        if cluster is None:
            cluster = call(
                stub.CreateCluster,
                engine_pb2.CreateClusterRequest(name="Default", description=description),
                address,
            ).cluster
        elif cluster.description != description:
            call(
                stub.UpdateCluster,
                engine_pb2.UpdateClusterRequest(cluster_id=cluster.id, description=description),
                address,
            )
        networks = {n.name: n for n in list_networks(stub, cluster.id, address)}
        wanted = [
            ("ovirtmgmt", MGMT_SUBNET, True, common_pb2.NETWORK_ROLE_MANAGEMENT, None),
            ("migration", MIG_SUBNET, False, common_pb2.NETWORK_ROLE_MIGRATION, MIG_QOS_MBPS),
        ]
        for name, subnet, required, role, qos in wanted:
            if name not in networks:
                call(
                    stub.CreateNetwork,
                    engine_pb2.CreateNetworkRequest(
                        cluster_id=cluster.id,
                        name=name,
                        subnet=subnet,
                        required=required,
                        roles=[role],
                        qos_mbit_per_second=qos,
                    ),
                    address,
                )
        known = {h.name: h for h in list_hosts(stub, cluster.id, address)}
        for host in hosts:
            old = known.get(host["name"])
            if old is not None and old.agent_address != host["agent"]:
                # the fake fleet listens on new ports after a restart
                call(stub.RemoveHost, engine_pb2.RemoveHostRequest(host_id=old.id), address)
                old = None
            if old is None:
                call(
                    stub.AddHost,
                    engine_pb2.AddHostRequest(
                        cluster_id=cluster.id, name=host["name"], agent_address=host["agent"]
                    ),
                    address,
                )


# ---------------------------------------------------------------- the fake fleet


def _fake_fleet(args: argparse.Namespace) -> int:
    """Runs the demo's fake agents in this process until SIGTERM."""
    import asyncio
    import ipaddress

    from miglane.agent.domain.model import Nic
    from miglane.agent.testing import start_fake_agents, stop_fake_agents
    from miglane.pki import CertificateAuthority

    mgmt = list(ipaddress.IPv4Network(MGMT_SUBNET).hosts())
    mig = list(ipaddress.IPv4Network(MIG_SUBNET).hosts())
    prefix_mgmt = MGMT_SUBNET.split("/")[1]
    prefix_mig = MIG_SUBNET.split("/")[1]

    def demo_nics(index: int) -> list[Nic]:
        # Reported values only: the fake hosts send nothing anywhere.
        return [
            Nic(
                "mgmt0",
                f"52:54:00:aa:00:{index:02x}",
                (f"{mgmt[10 + index]}/{prefix_mgmt}",),
                True,
                1000,
                1500,
            ),
            Nic(
                "mig0",
                f"52:54:00:bb:00:{index:02x}",
                (f"{mig[10 + index]}/{prefix_mig}",),
                True,
                10000,
                9000,
            ),
        ]

    async def serve() -> None:
        _, agents = await start_fake_agents(
            DEMO_HOSTS,
            vms_per_host=2,
            vm_memory_mib=2048,
            speed=1.0,
            nics=demo_nics,
            state_root=str(args.state_dir),
            name_prefix="fake-host",
            authority=CertificateAuthority.open(args.pki_dir),
        )
        for agent, (_, dirty) in zip(agents, [(0, 0), (1, 64), (2, 0)], strict=True):
            if dirty:
                agent.host.set_dirty_rate(agent.vm_ids[0], dirty * 1024 * 1024)
        addresses = [{"name": a.name, "agent": a.address} for a in agents]
        tmp = args.addresses_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(addresses))
        tmp.replace(args.addresses_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await stop_fake_agents(agents)

    asyncio.run(serve())
    return 0


# ---------------------------------------------------------------- down and status


def _down(args: argparse.Namespace) -> int:
    paths = DemoPaths.choose(args.base_dir)
    from miglane.lab.processes import stop_processes

    state = _load_state(paths)
    engine_pid, fleet_pid = state.get("engine_pid"), state.get("fleet_pid")
    ours: list[int] = []
    if isinstance(engine_pid, int) and _engine_running(paths, engine_pid):
        ours.append(engine_pid)
    if isinstance(fleet_pid, int) and _fleet_running(paths, fleet_pid):
        ours.append(fleet_pid)
    stop_processes(ours, grace=10)
    if paths.postgres_dir.exists():
        from miglane.lab.postgres import PrivatePostgres

        PrivatePostgres(paths.postgres_dir).stop()
        shutil.rmtree(paths.postgres_dir, ignore_errors=True)
    # The lab of a demo whose state was lost (a crash) is taken down when it is the demo's own;
    # the shared default lab only when the demo says it started it.
    if state.get("mode") == "lab" or (paths.lab is None and paths.lab_dir.exists()):
        from miglane.lab import Lab

        Lab(paths.lab_dir).down()
    paths.state_file.unlink(missing_ok=True)
    paths.fleet_addresses.unlink(missing_ok=True)
    # The demo's engine state describes hosts that are gone now: the next `up` starts afresh.
    shutil.rmtree(paths.engine_dir, ignore_errors=True)
    shutil.rmtree(paths.base / "fake-agents", ignore_errors=True)
    print("demo stopped: engine, agents and lab hosts are gone")
    return 0


def _status(args: argparse.Namespace) -> int:
    paths = DemoPaths.choose(args.base_dir)
    state = _load_state(paths)
    if not state:
        print("the demo is not running (make run starts it)")
        return 0
    print(f"mode: {state.get('mode')}")
    print(
        f"engine store: {'PostgreSQL ' + state['database'] if state.get('database') else 'SQLite'}"
    )
    print(
        f"engine: pid {state.get('engine_pid')} "
        f"{'running' if _engine_running(paths, state.get('engine_pid')) else 'stopped'} "
        f"on {ENGINE_ADDRESS}"
    )
    if state.get("fleet_pid"):
        print(
            f"fake agents: pid {state['fleet_pid']} "
            f"{'running' if _fleet_running(paths, state['fleet_pid']) else 'stopped'}"
        )
    return 0


# ---------------------------------------------------------------- processes


def _spawn(command: list[str], log: Path) -> int:
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def _engine_running(paths: DemoPaths, pid: object) -> bool:
    return _ours(pid, "engine", str(paths.engine_dir))


def _fleet_running(paths: DemoPaths, pid: object) -> bool:
    return _ours(pid, "fake-fleet", str(paths.fleet_addresses))


def _ours(pid: object, *markers: str) -> bool:
    """`pid` still runs the `miglane` process the demo started (its command line holds
    `markers`), not one that got the PID after a reboot: only those are stopped."""
    from miglane.lab.processes import is_ours

    return isinstance(pid, int) and is_ours(pid, "miglane.cli.main", *markers)


def _load_state(paths: DemoPaths) -> dict[str, Any]:
    try:
        return dict(json.loads(paths.state_file.read_text()))
    except (OSError, ValueError):
        return {}


def _save_state(paths: DemoPaths, state: dict[str, Any]) -> None:
    tmp = paths.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(paths.state_file)
