"""The engine as a process: the address line, kill -9 mid-request and restart (on SQLite and on
PostgreSQL, chosen by `--database`), graceful stop, one engine per state dir, the `miglane engine`
command."""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from store_backends import DatabaseOf

from miglane.pki import CertificateAuthority
from miglane.testing.identities import admin_credentials, sync_engine_channel
from miglane.v1 import common_pb2, engine_pb2_grpc
from miglane.v1 import engine_pb2 as pb

MIGRATION = common_pb2.NETWORK_ROLE_MIGRATION

LISTENING = re.compile(r"^engine listening on (\S+)$")


@dataclass
class EngineProcess:
    process: subprocess.Popen[str]
    state_dir: Path
    address: str = ""
    lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def stub(self) -> tuple[grpc.Channel, engine_pb2_grpc.EngineServiceStub]:
        credentials = admin_credentials(CertificateAuthority.open(self.state_dir / "pki"))
        channel = sync_engine_channel(self.address, credentials)
        return channel, engine_pb2_grpc.EngineServiceStub(channel)


def start(state_dir: Path, *extra: str, module: str = "miglane.engine") -> EngineProcess:
    command = [sys.executable, "-m", module]
    if module == "miglane.cli.main":
        command.append("engine")
    command += ["--listen", "127.0.0.1:0", "--state-dir", str(state_dir), *extra]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    engine = EngineProcess(process, state_dir)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            engine.lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        try:
            line = engine.lines.get(timeout=0.1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        match = LISTENING.match(line)
        if match:
            engine.address = match.group(1)
            return engine
    process.kill()
    raise AssertionError("engine did not report its address:\n" + "\n".join(seen))


@pytest.fixture
def processes() -> Iterator[list[EngineProcess]]:
    started: list[EngineProcess] = []
    yield started
    for engine in started:
        if engine.process.poll() is None:
            engine.process.kill()
        engine.process.wait(10)


@pytest.mark.both_store_backends
def test_kill_9_mid_request_loses_nothing_acknowledged(
    tmp_path: Path, processes: list[EngineProcess], database_of: DatabaseOf
) -> None:
    state = tmp_path / "state"
    database = ("--database", database_of(state))
    engine = start(state, *database)
    processes.append(engine)
    channel, stub = engine.stub()
    cluster = stub.CreateCluster(pb.CreateClusterRequest(name="c1")).cluster
    requests = [
        pb.CreateNetworkRequest(
            cluster_id=cluster.id,
            name=f"n{i}",
            subnet=f"10.{i // 256}.{i % 256}.0/24",
            roles=[MIGRATION] if i % 7 == 0 else [],  # role moves along the way
            qos_mbit_per_second=100 + i,
        )
        for i in range(400)
    ]
    # Let some land, then kill the engine while the rest are in flight: killed from gRPC's own
    # thread as the 40th success arrives (a polling test thread starved on a busy machine had
    # let every request land first).
    answered = itertools.count(1)
    pid = engine.process.pid

    def kill_at_the_40th(future: grpc.Future) -> None:
        if future.exception() is None and next(answered) == 40:
            os.kill(pid, signal.SIGKILL)

    pending = [stub.CreateNetwork.future(r, timeout=30) for r in requests]
    for future in pending:
        future.add_done_callback(kill_at_the_40th)
    engine.process.wait(60)
    acknowledged = {}
    for request, future in zip(requests, pending, strict=True):
        with contextlib.suppress(grpc.RpcError):
            acknowledged[request.name] = future.result(timeout=10).network
    channel.close()
    assert 40 <= len(acknowledged) < len(requests), "the kill should land mid-stream"

    engine = start(state, *database)
    processes.append(engine)
    channel, stub = engine.stub()
    networks = {
        n.name: n for n in stub.ListNetworks(pb.ListNetworksRequest(page_size=1000)).networks
    }
    events = stub.ListEvents(pb.ListEventsRequest(page_size=1000)).events
    cluster = stub.GetCluster(pb.GetClusterRequest(cluster_id=cluster.id)).cluster
    channel.close()

    # Every acknowledged change is there, exactly as acknowledged (roles may have moved on).
    for name, network in acknowledged.items():
        assert name in networks
        assert (networks[name].id, networks[name].subnet, networks[name].qos_mbit_per_second) == (
            network.id, network.subnet, network.qos_mbit_per_second,
        )  # fmt: skip
    # Nothing half-written: each network has exactly its creation event, and the sequence has no
    # hole (a rolled-back transaction leaves none).
    created = [e.network_id for e in events if e.type == pb.EVENT_TYPE_NETWORK_CREATED]
    assert sorted(created) == sorted(n.id for n in networks.values())
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    # The role table and the role events agree.
    role_events = [
        e for e in events if e.type in (pb.EVENT_TYPE_ROLE_GRANTED, pb.EVENT_TYPE_ROLE_MOVED)
    ]
    assert cluster.migration_network_id == role_events[-1].network_id
    holders = [n for n in networks.values() if 3 in n.roles]
    assert [n.id for n in holders] == [cluster.migration_network_id]


def test_graceful_stop_ends_streams_and_exits_zero(
    tmp_path: Path, processes: list[EngineProcess]
) -> None:
    # A grace period far longer than any stop: a stream that held it would show plainly.
    engine = start(tmp_path / "state", "--grace-s", "120")
    processes.append(engine)
    channel, stub = engine.stub()
    stub.CreateCluster(pb.CreateClusterRequest(name="c1"))
    stream = stub.WatchEvents(pb.WatchEventsRequest(after_sequence=1))
    stub.CreateCluster(pb.CreateClusterRequest(name="c2"))
    # Replayed or live, event 2 comes through a subscription already made.
    assert next(stream).event.sequence == 2
    started = time.monotonic()
    engine.process.send_signal(signal.SIGTERM)
    assert list(stream) == []  # ended by the engine, with OK
    assert engine.process.wait(60) == 0
    assert time.monotonic() - started < 60  # streams did not hold the grace period
    channel.close()
    output = []
    while not engine.lines.empty():
        output.append(engine.lines.get())
    assert any("stopped" in line for line in output), output


def test_one_engine_per_state_dir_and_per_port(
    tmp_path: Path, processes: list[EngineProcess]
) -> None:
    engine = start(tmp_path / "state")
    processes.append(engine)
    second = subprocess.run(
        [sys.executable, "-m", "miglane.engine", "--listen", "127.0.0.1:0", "--state-dir",
         str(tmp_path / "state")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert second.returncode == 1
    assert f"in use by another engine (pid {engine.process.pid})" in second.stderr
    same_port = subprocess.run(
        [sys.executable, "-m", "miglane.engine", "--listen", engine.address, "--state-dir",
         str(tmp_path / "other")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert same_port.returncode == 1
    assert f"cannot listen on {engine.address}" in same_port.stderr


def test_miglane_engine_command_with_example_cluster(
    tmp_path: Path, processes: list[EngineProcess]
) -> None:
    engine = start(tmp_path / "state", "--example-cluster", module="miglane.cli.main")
    processes.append(engine)
    channel, stub = engine.stub()
    (cluster,) = stub.ListClusters(pb.ListClustersRequest()).clusters
    networks = stub.ListNetworks(pb.ListNetworksRequest(cluster_id=cluster.id)).networks
    channel.close()
    assert cluster.name == "Default"
    assert {n.name: n.subnet for n in networks} == {
        "mgmt": "10.231.1.0/24",
        "migration": "10.231.2.0/24",
    }
    assert cluster.migration_network_id == next(n.id for n in networks if n.name == "migration")
