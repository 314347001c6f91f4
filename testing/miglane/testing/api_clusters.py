"""A cluster of fake agents' hosts, made through a real engine's API (as an operator would): a
management and a migration network, every agent's host added, its VMs known to the engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from miglane.v1 import common_pb2, engine_pb2

NETWORKS = (
    ("mgmt", "10.0.0.0/16", common_pb2.NETWORK_ROLE_MANAGEMENT),
    ("migration", "10.1.0.0/16", common_pb2.NETWORK_ROLE_MIGRATION),
)


async def cluster_of_agents(
    stub: Any,
    agents: Sequence[Any],
    *,
    policy: engine_pb2.MigrationPolicy | None = None,
    vms: int,
    timeout_s: float = 60.0,
) -> tuple[engine_pb2.Cluster, list[engine_pb2.Host]]:
    """Cluster "c1" with the hosts of `agents` (each with `.name` and `.address`); returns once
    the engine lists `vms` VMs in it."""
    request = engine_pb2.CreateClusterRequest(name="c1", policy=policy)
    cluster = (await stub.CreateCluster(request)).cluster
    for name, subnet, role in NETWORKS:
        await stub.CreateNetwork(
            engine_pb2.CreateNetworkRequest(
                cluster_id=cluster.id, name=name, subnet=subnet, roles=[role]
            )
        )
    hosts = []
    for agent in agents:
        add = engine_pb2.AddHostRequest(
            cluster_id=cluster.id, name=agent.name, agent_address=agent.address
        )
        hosts.append((await stub.AddHost(add)).host)
    deadline = time.monotonic() + timeout_s
    while await _count_vms(stub, cluster.id) < vms:
        if time.monotonic() > deadline:
            raise AssertionError(f"the engine did not list {vms} VMs within {timeout_s} s")
        await asyncio.sleep(0.1)
    return cluster, hosts


async def _count_vms(stub: Any, cluster_id: str) -> int:
    """The cluster's VMs as the engine lists them, every page."""
    count, token = 0, ""
    while True:
        request = engine_pb2.ListVmsRequest(cluster_id=cluster_id, page_size=1000, page_token=token)
        reply = await stub.ListVms(request)
        count, token = count + len(reply.vms), reply.next_page_token
        if not token:
            return count
