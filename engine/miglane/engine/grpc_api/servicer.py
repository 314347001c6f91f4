"""EngineService: each RPC converts its request, calls the inventory or the migration requests,
converts back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from miglane.engine.domain.model import Migration
from miglane.engine.domain.paging import page_of
from miglane.engine.domain.priority import validate_priority
from miglane.engine.grpc_api import converters as conv
from miglane.engine.grpc_api.errors import map_domain_errors
from miglane.engine.inventory import Inventory
from miglane.engine.migrations.requests import MigrationRequests
from miglane.v1 import engine_pb2 as pb
from miglane.v1 import engine_pb2_grpc

Context = Any  # grpc.aio.ServicerContext, or grpc_testing's in servicer tests

_REPLY_CACHE_MAX = 10_000


class EngineServicer(engine_pb2_grpc.EngineServiceServicer):
    def __init__(self, inventory: Inventory, migrations: MigrationRequests) -> None:
        self._inventory = inventory
        self._migrations = migrations
        self._replies: dict[str, tuple[Migration, pb.WatchMigrationsResponse]] = {}

    # ------------------------------------------------------------ clusters

    @map_domain_errors
    async def CreateCluster(
        self, request: pb.CreateClusterRequest, context: Context
    ) -> pb.CreateClusterResponse:
        cluster = await self._inventory.clusters.create_cluster(conv.cluster_spec(request))
        return pb.CreateClusterResponse(cluster=conv.cluster_to_proto(cluster))

    @map_domain_errors
    async def GetCluster(
        self, request: pb.GetClusterRequest, context: Context
    ) -> pb.GetClusterResponse:
        cluster = await self._inventory.clusters.get_cluster(request.cluster_id)
        return pb.GetClusterResponse(cluster=conv.cluster_to_proto(cluster))

    @map_domain_errors
    async def ListClusters(
        self, request: pb.ListClustersRequest, context: Context
    ) -> pb.ListClustersResponse:
        page = await self._inventory.clusters.list_clusters(request.page_size, request.page_token)
        return pb.ListClustersResponse(
            clusters=[conv.cluster_to_proto(c) for c in page.items],
            next_page_token=page.next_page_token,
        )

    @map_domain_errors
    async def UpdateCluster(
        self, request: pb.UpdateClusterRequest, context: Context
    ) -> pb.UpdateClusterResponse:
        cluster = await self._inventory.clusters.update_cluster(conv.cluster_patch(request))
        return pb.UpdateClusterResponse(cluster=conv.cluster_to_proto(cluster))

    @map_domain_errors
    async def DeleteCluster(
        self, request: pb.DeleteClusterRequest, context: Context
    ) -> pb.DeleteClusterResponse:
        await self._inventory.clusters.delete_cluster(request.cluster_id)
        return pb.DeleteClusterResponse()

    # ------------------------------------------------------------ networks

    @map_domain_errors
    async def CreateNetwork(
        self, request: pb.CreateNetworkRequest, context: Context
    ) -> pb.CreateNetworkResponse:
        network = await self._inventory.networks.create_network(conv.network_spec(request))
        return pb.CreateNetworkResponse(network=conv.network_to_proto(network))

    @map_domain_errors
    async def GetNetwork(
        self, request: pb.GetNetworkRequest, context: Context
    ) -> pb.GetNetworkResponse:
        network = await self._inventory.networks.get_network(request.network_id)
        return pb.GetNetworkResponse(network=conv.network_to_proto(network))

    @map_domain_errors
    async def ListNetworks(
        self, request: pb.ListNetworksRequest, context: Context
    ) -> pb.ListNetworksResponse:
        page = await self._inventory.networks.list_networks(
            request.cluster_id, request.page_size, request.page_token
        )
        return pb.ListNetworksResponse(
            networks=[conv.network_to_proto(n) for n in page.items],
            next_page_token=page.next_page_token,
        )

    @map_domain_errors
    async def UpdateNetwork(
        self, request: pb.UpdateNetworkRequest, context: Context
    ) -> pb.UpdateNetworkResponse:
        network = await self._inventory.networks.update_network(conv.network_patch(request))
        return pb.UpdateNetworkResponse(network=conv.network_to_proto(network))

    @map_domain_errors
    async def DeleteNetwork(
        self, request: pb.DeleteNetworkRequest, context: Context
    ) -> pb.DeleteNetworkResponse:
        await self._inventory.networks.delete_network(request.network_id)
        return pb.DeleteNetworkResponse()

    @map_domain_errors
    async def SetNetworkRole(
        self, request: pb.SetNetworkRoleRequest, context: Context
    ) -> pb.SetNetworkRoleResponse:
        network, previous = await self._inventory.networks.set_network_role(
            request.network_id, conv.role_from_proto(request.role)
        )
        return pb.SetNetworkRoleResponse(
            network=conv.network_to_proto(network), previous_network_id=previous
        )

    @map_domain_errors
    async def UnsetNetworkRole(
        self, request: pb.UnsetNetworkRoleRequest, context: Context
    ) -> pb.UnsetNetworkRoleResponse:
        network = await self._inventory.networks.unset_network_role(
            request.network_id, conv.role_from_proto(request.role)
        )
        return pb.UnsetNetworkRoleResponse(network=conv.network_to_proto(network))

    # ------------------------------------------------------------ hosts

    @map_domain_errors
    async def AddHost(self, request: pb.AddHostRequest, context: Context) -> pb.AddHostResponse:
        host = await self._migrations.add_host(conv.host_spec(request))
        return pb.AddHostResponse(host=conv.host_to_proto(host))

    @map_domain_errors
    async def GetHost(self, request: pb.GetHostRequest, context: Context) -> pb.GetHostResponse:
        host = await self._inventory.hosts.get_host(request.host_id)
        return pb.GetHostResponse(host=conv.host_to_proto(host))

    @map_domain_errors
    async def ListHosts(
        self, request: pb.ListHostsRequest, context: Context
    ) -> pb.ListHostsResponse:
        page = await self._inventory.hosts.list_hosts(
            request.cluster_id, request.page_size, request.page_token
        )
        return pb.ListHostsResponse(
            hosts=[conv.host_to_proto(h) for h in page.items],
            next_page_token=page.next_page_token,
        )

    @map_domain_errors
    async def RemoveHost(
        self, request: pb.RemoveHostRequest, context: Context
    ) -> pb.RemoveHostResponse:
        await self._inventory.hosts.remove_host(request.host_id)
        return pb.RemoveHostResponse()

    @map_domain_errors
    async def SetHostMaintenance(
        self, request: pb.SetHostMaintenanceRequest, context: Context
    ) -> pb.SetHostMaintenanceResponse:
        result = await self._migrations.set_host_maintenance(request.host_id, request.enabled)
        return pb.SetHostMaintenanceResponse(
            host=conv.host_to_proto(result.host),
            migrations=[conv.migration_to_proto(m) for m in result.migrations],
            unplaced=[conv.unplaced_to_proto(u) for u in result.unplaced],
        )

    # ------------------------------------------------------------ VMs

    @map_domain_errors
    async def ListVms(self, request: pb.ListVmsRequest, context: Context) -> pb.ListVmsResponse:
        page = await self._inventory.vms.list_vms(
            request.cluster_id, request.host_id, request.page_size, request.page_token
        )
        return pb.ListVmsResponse(
            vms=[conv.vm_to_proto(v) for v in page.items], next_page_token=page.next_page_token
        )

    @map_domain_errors
    async def GetVm(self, request: pb.GetVmRequest, context: Context) -> pb.GetVmResponse:
        vm = await self._inventory.vms.get_vm(request.vm_id)
        return pb.GetVmResponse(vm=conv.vm_to_proto(vm))

    @map_domain_errors
    async def SetVmMigrationPriority(
        self, request: pb.SetVmMigrationPriorityRequest, context: Context
    ) -> pb.SetVmMigrationPriorityResponse:
        priority = validate_priority("priority", request.priority)
        vm = await self._migrations.set_vm_priority(request.vm_id, priority)
        return pb.SetVmMigrationPriorityResponse(vm=conv.vm_to_proto(vm))

    # ------------------------------------------------------------ migrations

    @map_domain_errors
    async def MigrateVm(
        self, request: pb.MigrateVmRequest, context: Context
    ) -> pb.MigrateVmResponse:
        migration = await self._migrations.migrate_vm(
            request.vm_id,
            request.destination_host_id,
            conv.bandwidth_override(request),
            conv.priority_override(request),
        )
        return pb.MigrateVmResponse(migration=conv.migration_to_proto(migration))

    @map_domain_errors
    async def ListMigrationCandidates(
        self, request: pb.ListMigrationCandidatesRequest, context: Context
    ) -> pb.ListMigrationCandidatesResponse:
        candidates = await self._migrations.candidates(request.vm_id)
        page = page_of(
            candidates, request.page_size, request.page_token, f"candidates?vm={request.vm_id}"
        )
        return pb.ListMigrationCandidatesResponse(
            candidates=[conv.candidate_to_proto(c) for c in page.items],
            next_page_token=page.next_page_token,
        )

    @map_domain_errors
    async def CancelMigration(
        self, request: pb.CancelMigrationRequest, context: Context
    ) -> pb.CancelMigrationResponse:
        migration = await self._migrations.cancel(request.migration_id)
        return pb.CancelMigrationResponse(migration=conv.migration_to_proto(migration))

    @map_domain_errors
    async def SetMigrationBandwidth(
        self, request: pb.SetMigrationBandwidthRequest, context: Context
    ) -> pb.SetMigrationBandwidthResponse:
        migration = await self._migrations.set_bandwidth(
            request.migration_id, request.max_bandwidth_mib_per_second
        )
        return pb.SetMigrationBandwidthResponse(migration=conv.migration_to_proto(migration))

    @map_domain_errors
    async def WatchMigrations(
        self, request: pb.WatchMigrationsRequest, context: Context
    ) -> AsyncIterator[pb.WatchMigrationsResponse]:
        stream = self._migrations.watch(
            request.cluster_id, request.vm_id, request.migration_id, request.include_finished
        )
        async for migration in stream:
            if migration is None:
                yield pb.WatchMigrationsResponse(snapshot_complete=True)
            else:
                yield self._watch_reply(migration)

    def _watch_reply(self, migration: Migration) -> pb.WatchMigrationsResponse:
        # Every watcher gets the same snapshot object: convert it once for all of them.
        cached = self._replies.get(migration.id)
        if cached is not None and cached[0] is migration:
            return cached[1]
        reply = pb.WatchMigrationsResponse(migration=conv.migration_to_proto(migration))
        if len(self._replies) >= _REPLY_CACHE_MAX:
            self._replies.clear()
        self._replies[migration.id] = (migration, reply)
        return reply

    # ------------------------------------------------------------ migration records

    @map_domain_errors
    async def GetMigration(
        self, request: pb.GetMigrationRequest, context: Context
    ) -> pb.GetMigrationResponse:
        migration = await self._migrations.get(request.migration_id)
        return pb.GetMigrationResponse(migration=conv.migration_to_proto(migration))

    @map_domain_errors
    async def ListMigrations(
        self, request: pb.ListMigrationsRequest, context: Context
    ) -> pb.ListMigrationsResponse:
        page = await self._inventory.migration_records.list_migrations(
            conv.migration_filter(request), request.page_size, request.page_token
        )
        return pb.ListMigrationsResponse(
            migrations=[conv.migration_to_proto(m) for m in page.items],
            next_page_token=page.next_page_token,
        )

    # ------------------------------------------------------------ events

    @map_domain_errors
    async def ListEvents(
        self, request: pb.ListEventsRequest, context: Context
    ) -> pb.ListEventsResponse:
        page = await self._inventory.audit.list_events(
            request.cluster_id, request.after_sequence, request.page_size, request.page_token
        )
        return pb.ListEventsResponse(
            events=[conv.event_to_proto(e) for e in page.items],
            next_page_token=page.next_page_token,
        )

    @map_domain_errors
    async def WatchEvents(
        self, request: pb.WatchEventsRequest, context: Context
    ) -> AsyncIterator[pb.WatchEventsResponse]:
        events = self._inventory.audit.watch_events(request.cluster_id, request.after_sequence)
        async with aclosing(events):
            async for event in events:
                yield pb.WatchEventsResponse(event=conv.event_to_proto(event))
