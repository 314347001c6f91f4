"""The example cluster `miglane engine --example-cluster` creates in an empty engine: "Default",
with a management and a migration network on the lab's first subnets, so that a fresh engine
shows something."""

from __future__ import annotations

from typing import Protocol

from miglane.engine.clusters import ClusterService
from miglane.engine.domain.model import Cluster, ClusterSpec, NetworkRole, NetworkSpec
from miglane.engine.networks import NetworkService

MANAGEMENT_SUBNET = "10.231.1.0/24"
MIGRATION_SUBNET = "10.231.2.0/24"


class InventoryServices(Protocol):
    @property
    def clusters(self) -> ClusterService: ...

    @property
    def networks(self) -> NetworkService: ...


async def create_example_cluster(inventory: InventoryServices) -> Cluster | None:
    """The example cluster, created when the engine holds no cluster; None otherwise."""
    if (await inventory.clusters.list_clusters(page_size=1)).items:
        return None
    cluster = await inventory.clusters.create_cluster(
        ClusterSpec(
            name="Default", description="example cluster (miglane engine --example-cluster)"
        )
    )
    await inventory.networks.create_network(
        NetworkSpec(
            cluster_id=cluster.id,
            name="mgmt",
            subnet=MANAGEMENT_SUBNET,
            required=True,
            roles=(NetworkRole.MANAGEMENT, NetworkRole.DISPLAY),
            description="management: the engine reaches agents over it",
        )
    )
    await inventory.networks.create_network(
        NetworkSpec(
            cluster_id=cluster.id,
            name="migration",
            subnet=MIGRATION_SUBNET,
            roles=(NetworkRole.MIGRATION,),
            description="carries live-migration data",
        )
    )
    return await inventory.clusters.get_cluster(cluster.id)
