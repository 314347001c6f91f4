"""EngineService over a real in-process grpc.aio server on port 0, as clients see it."""

# The hostile-client table reads best one request per line.
# ruff: noqa: E501

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from engine_support import Engine, insert_migration, insert_vm
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from miglane.engine.domain.errors import Reason
from miglane.engine.domain.model import MigrationPhase
from miglane.engine.grpc_api.errors import ERROR_DOMAIN
from miglane.engine.grpc_api.server import ENGINE_SERVICE_NAME
from miglane.testing.extreme_requests import ExtremeRequest, extreme_requests
from miglane.v1 import engine_pb2 as pb
from miglane.v1.request_ranges import STORABLE_MAX
from miglane.v1.rich_errors import error_details

pytestmark = pytest.mark.both_store_backends

MANAGEMENT, DISPLAY, MIGRATION = 1, 2, 3


async def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


async def base(engine: Engine) -> dict[str, str]:
    stub = engine.stub
    c1 = (await stub.CreateCluster(pb.CreateClusterRequest(name="c1"))).cluster
    c2 = (await stub.CreateCluster(pb.CreateClusterRequest(name="c2"))).cluster
    mgmt = (
        await stub.CreateNetwork(
            pb.CreateNetworkRequest(
                cluster_id=c1.id, name="mgmt", subnet="10.0.1.0/24", roles=[MANAGEMENT]
            )
        )
    ).network
    mig = (
        await stub.CreateNetwork(
            pb.CreateNetworkRequest(
                cluster_id=c1.id, name="mig", subnet="10.0.2.0/24", roles=[MIGRATION]
            )
        )
    ).network
    other = (
        await stub.CreateNetwork(
            pb.CreateNetworkRequest(
                cluster_id=c2.id, name="mig", subnet="10.0.2.0/24", roles=[MIGRATION]
            )
        )
    ).network
    host = (
        await stub.AddHost(
            pb.AddHostRequest(cluster_id=c1.id, name="h1", agent_address="10.0.1.11:50052")
        )
    ).host
    return {
        "c1": c1.id,
        "c2": c2.id,
        "mgmt": mgmt.id,
        "mig": mig.id,
        "other": other.id,
        "host": host.id,
    }


async def test_inventory_round_trip(engine: Engine) -> None:
    ids = await base(engine)
    stub = engine.stub
    cluster = (await stub.GetCluster(pb.GetClusterRequest(cluster_id=ids["c1"]))).cluster
    assert cluster.migration_network_id == ids["mig"]
    assert cluster.management_network_id == ids["mgmt"]
    assert cluster.policy.max_outgoing_per_host == 2  # defaults resolved
    assert cluster.compatibility_version == "4.7"

    moved = await stub.SetNetworkRole(
        pb.SetNetworkRoleRequest(network_id=ids["mgmt"], role=MIGRATION)
    )
    assert moved.previous_network_id == ids["mig"]
    assert list(moved.network.roles) == [MANAGEMENT, MIGRATION]

    updated = (
        await stub.UpdateNetwork(
            pb.UpdateNetworkRequest(network_id=ids["mig"], qos_mbit_per_second=2500, required=True)
        )
    ).network
    assert (
        updated.HasField("qos_mbit_per_second")
        and updated.qos_mbit_per_second == 2500
        and updated.required
    )
    cleared = (
        await stub.UpdateNetwork(
            pb.UpdateNetworkRequest(network_id=ids["mig"], qos_mbit_per_second=0)
        )
    ).network
    assert not cleared.HasField("qos_mbit_per_second")

    host = (await stub.GetHost(pb.GetHostRequest(host_id=ids["host"]))).host
    assert host.status == pb.HOST_STATUS_UNREACHABLE and "not contacted yet" in host.status_reason

    policy = pb.MigrationPolicy(bandwidth_mode=pb.BANDWIDTH_MODE_CUSTOM, custom_mib_per_second=64)
    cluster = (
        await stub.UpdateCluster(
            pb.UpdateClusterRequest(cluster_id=ids["c1"], policy=policy, name="prod")
        )
    ).cluster
    assert (cluster.name, cluster.policy.custom_mib_per_second, cluster.policy.max_incoming_per_host) == (
        "prod", 64, 2,
    )  # fmt: skip

    await stub.RemoveHost(pb.RemoveHostRequest(host_id=ids["host"]))
    assert (await code_of(stub.GetHost(pb.GetHostRequest(host_id=ids["host"]))))[
        0
    ] == grpc.StatusCode.NOT_FOUND

    events = (await stub.ListEvents(pb.ListEventsRequest(cluster_id=ids["c1"]))).events
    types = [pb.EventType.Name(e.type) for e in events]
    assert types == [
        "EVENT_TYPE_CLUSTER_CREATED",
        "EVENT_TYPE_NETWORK_CREATED",
        "EVENT_TYPE_ROLE_GRANTED",
        "EVENT_TYPE_NETWORK_CREATED",
        "EVENT_TYPE_ROLE_GRANTED",
        "EVENT_TYPE_HOST_ADDED",
        "EVENT_TYPE_ROLE_MOVED",
        "EVENT_TYPE_NETWORK_UPDATED",
        "EVENT_TYPE_NETWORK_UPDATED",
        "EVENT_TYPE_CLUSTER_UPDATED",
        "EVENT_TYPE_HOST_REMOVED",
    ]
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)
    assert events[6].attributes["from_network_id"] == ids["mig"]


Request = Callable[[dict[str, str]], tuple[str, Any]]

HOSTILE: list[Any] = [
    # clusters
    ("CreateCluster", lambda i: pb.CreateClusterRequest(name=""), "INVALID_ARGUMENT", "name: is empty"),
    ("CreateCluster", lambda i: pb.CreateClusterRequest(name="x" * 200_000), "INVALID_ARGUMENT", "name: is 200000 characters long"),
    ("CreateCluster", lambda i: pb.CreateClusterRequest(name="bad name"), "INVALID_ARGUMENT", "not a valid name"),
    ("CreateCluster", lambda i: pb.CreateClusterRequest(name="c1"), "ALREADY_EXISTS", "name: a cluster named 'c1' exists"),
    ("CreateCluster", lambda i: pb.CreateClusterRequest(name="c3", compatibility_version="9.9"), "INVALID_ARGUMENT", "compatibility_version: '9.9' is not a level"),
    ("CreateCluster", lambda i: pb.CreateClusterRequest(name="c3", policy=pb.MigrationPolicy(bandwidth_mode=42)), "INVALID_ARGUMENT", "policy.bandwidth_mode: 42 is not a BandwidthMode value"),
    ("CreateCluster", lambda i: pb.CreateClusterRequest(name="c3", policy=pb.MigrationPolicy(convergence=-3)), "INVALID_ARGUMENT", "policy.convergence: -3 is not a ConvergencePolicy value"),
    ("CreateCluster", lambda i: pb.CreateClusterRequest(name="c3", policy=pb.MigrationPolicy(max_outgoing_per_host=4_000_000_000)), "INVALID_ARGUMENT", "policy.max_outgoing_per_host: 4000000000 is more than"),
    ("CreateCluster", lambda i: pb.CreateClusterRequest(name="c3", description="\x00"), "INVALID_ARGUMENT", "description: holds the control character"),
    ("GetCluster", lambda i: pb.GetClusterRequest(), "INVALID_ARGUMENT", "cluster_id: is empty"),
    ("GetCluster", lambda i: pb.GetClusterRequest(cluster_id="cl-nope"), "NOT_FOUND", "cluster_id: no cluster with id 'cl-nope'"),
    ("GetCluster", lambda i: pb.GetClusterRequest(cluster_id="x" * 5000), "INVALID_ARGUMENT", "cluster_id: is 5000 characters long"),
    ("UpdateCluster", lambda i: pb.UpdateClusterRequest(cluster_id="cl-nope", name="z"), "NOT_FOUND", "cluster_id: no cluster"),
    ("UpdateCluster", lambda i: pb.UpdateClusterRequest(cluster_id=i["c1"], name=""), "INVALID_ARGUMENT", "name: is empty"),
    ("UpdateCluster", lambda i: pb.UpdateClusterRequest(cluster_id=i["c1"], name="c2"), "ALREADY_EXISTS", "name: a cluster named 'c2' exists"),
    ("DeleteCluster", lambda i: pb.DeleteClusterRequest(cluster_id=i["c1"]), "FAILED_PRECONDITION", "still has 2 network(s) and 1 host(s)"),
    ("ListClusters", lambda i: pb.ListClustersRequest(page_size=-1), "INVALID_ARGUMENT", "page_size: -1 is negative"),
    ("ListClusters", lambda i: pb.ListClustersRequest(page_token="garbage"), "INVALID_ARGUMENT", "page_token: is not a token"),
    # networks
    ("CreateNetwork", lambda i: pb.CreateNetworkRequest(name="n", subnet="10.0.9.0/24"), "INVALID_ARGUMENT", "cluster_id: is empty"),
    ("CreateNetwork", lambda i: pb.CreateNetworkRequest(cluster_id="cl-nope", name="n", subnet="10.0.9.0/24"), "NOT_FOUND", "cluster_id: no cluster"),
    ("CreateNetwork", lambda i: pb.CreateNetworkRequest(cluster_id=i["c1"], name="n", subnet="10.0.9.0/33"), "INVALID_ARGUMENT", "subnet: '10.0.9.0/33' is not an IPv4 or IPv6 CIDR"),
    ("CreateNetwork", lambda i: pb.CreateNetworkRequest(cluster_id=i["c1"], name="n", subnet="10.0.9.1/24"), "INVALID_ARGUMENT", "the network address is 10.0.9.0/24"),
    ("CreateNetwork", lambda i: pb.CreateNetworkRequest(cluster_id=i["c1"], name="n", subnet=""), "INVALID_ARGUMENT", "subnet: is empty"),
    ("CreateNetwork", lambda i: pb.CreateNetworkRequest(cluster_id=i["c1"], name="n", subnet="10.0.0.0/8"), "FAILED_PRECONDITION", "subnet: 10.0.0.0/8 overlaps network 'mgmt'"),
    ("CreateNetwork", lambda i: pb.CreateNetworkRequest(cluster_id=i["c1"], name="mig", subnet="10.0.9.0/24"), "ALREADY_EXISTS", "name: cluster 'c1' already has a network named 'mig'"),
    ("CreateNetwork", lambda i: pb.CreateNetworkRequest(cluster_id=i["c1"], name="n", subnet="10.0.9.0/24", roles=[99]), "INVALID_ARGUMENT", "roles[0]: 99 is not a NetworkRole value"),
    ("CreateNetwork", lambda i: pb.CreateNetworkRequest(cluster_id=i["c1"], name="n", subnet="10.0.9.0/24", roles=[1, 0]), "INVALID_ARGUMENT", "roles[1]: is unset"),
    ("CreateNetwork", lambda i: pb.CreateNetworkRequest(cluster_id=i["c1"], name="n", subnet="10.0.9.0/24", qos_mbit_per_second=4_000_000_000), "INVALID_ARGUMENT", "qos_mbit_per_second: 4000000000 is more than"),
    ("GetNetwork", lambda i: pb.GetNetworkRequest(network_id="net-nope"), "NOT_FOUND", "network_id: no network with id 'net-nope'"),
    ("ListNetworks", lambda i: pb.ListNetworksRequest(cluster_id="cl-nope"), "NOT_FOUND", "cluster_id: no cluster"),
    ("ListNetworks", lambda i: pb.ListNetworksRequest(page_size=-100), "INVALID_ARGUMENT", "page_size"),
    ("UpdateNetwork", lambda i: pb.UpdateNetworkRequest(network_id=i["mig"], subnet="nonsense"), "INVALID_ARGUMENT", "subnet: 'nonsense' has no prefix length"),
    ("UpdateNetwork", lambda i: pb.UpdateNetworkRequest(network_id=i["mig"], name="mgmt"), "ALREADY_EXISTS", "name: cluster 'c1' already has a network named 'mgmt'"),
    ("UpdateNetwork", lambda i: pb.UpdateNetworkRequest(network_id="", name="z"), "INVALID_ARGUMENT", "network_id: is empty"),
    ("DeleteNetwork", lambda i: pb.DeleteNetworkRequest(network_id="net-nope"), "NOT_FOUND", "network_id: no network"),
    ("SetNetworkRole", lambda i: pb.SetNetworkRoleRequest(network_id=i["mig"]), "INVALID_ARGUMENT", "role: is unset; give one of NETWORK_ROLE_MANAGEMENT"),
    ("SetNetworkRole", lambda i: pb.SetNetworkRoleRequest(network_id=i["mig"], role=99), "INVALID_ARGUMENT", "role: 99 is not a NetworkRole value"),
    ("SetNetworkRole", lambda i: pb.SetNetworkRoleRequest(network_id="net-nope", role=3), "NOT_FOUND", "network_id: no network"),
    ("SetNetworkRole", lambda i: pb.SetNetworkRoleRequest(role=3), "INVALID_ARGUMENT", "network_id: is empty"),
    ("UnsetNetworkRole", lambda i: pb.UnsetNetworkRoleRequest(network_id=i["mgmt"], role=3), "FAILED_PRECONDITION", "network 'mgmt' does not hold the migration role (network 'mig' holds it)"),
    ("UnsetNetworkRole", lambda i: pb.UnsetNetworkRoleRequest(network_id=i["mig"], role=-1), "INVALID_ARGUMENT", "role: -1 is not a NetworkRole value"),
    # hosts
    ("AddHost", lambda i: pb.AddHostRequest(cluster_id=i["c1"], name="h2", agent_address="10.0.1.12"), "INVALID_ARGUMENT", "agent_address: '10.0.1.12' is not host:port"),
    ("AddHost", lambda i: pb.AddHostRequest(cluster_id=i["c1"], name="h2", agent_address="10.0.1.12:99999"), "INVALID_ARGUMENT", "agent_address: port '99999' is not a number from 1 to 65535"),
    ("AddHost", lambda i: pb.AddHostRequest(cluster_id=i["c1"], name="h2", agent_address="10.0.1.11:50052"), "ALREADY_EXISTS", "agent_address: host 'h1'"),
    ("AddHost", lambda i: pb.AddHostRequest(cluster_id=i["c1"], name="", agent_address="10.0.1.12:1"), "INVALID_ARGUMENT", "name: is empty"),
    ("AddHost", lambda i: pb.AddHostRequest(cluster_id="cl-nope", name="h2", agent_address="10.0.1.12:1"), "NOT_FOUND", "cluster_id: no cluster"),
    ("GetHost", lambda i: pb.GetHostRequest(host_id="host-nope"), "NOT_FOUND", "host_id: no host"),
    ("RemoveHost", lambda i: pb.RemoveHostRequest(), "INVALID_ARGUMENT", "host_id: is empty"),
    ("ListHosts", lambda i: pb.ListHostsRequest(page_token="eyJ2IjogMX0"), "INVALID_ARGUMENT", "page_token"),
    # VMs, migrations, events
    ("GetVm", lambda i: pb.GetVmRequest(vm_id="no-such-uuid"), "NOT_FOUND", "vm_id: no VM with id"),
    ("ListVms", lambda i: pb.ListVmsRequest(host_id="host-nope"), "NOT_FOUND", "host_id: no host"),
    ("GetMigration", lambda i: pb.GetMigrationRequest(migration_id="mig-nope"), "NOT_FOUND", "migration_id: no migration"),
    ("ListMigrations", lambda i: pb.ListMigrationsRequest(phases=[99]), "INVALID_ARGUMENT", "phases[0]: 99 is not a MigrationPhase value"),
    ("ListMigrations", lambda i: pb.ListMigrationsRequest(phases=[0]), "INVALID_ARGUMENT", "phases: holds MIGRATION_PHASE_UNSPECIFIED"),
    ("ListEvents", lambda i: pb.ListEventsRequest(page_size=-5), "INVALID_ARGUMENT", "page_size: -5 is negative"),
    # migrations
    ("MigrateVm", lambda i: pb.MigrateVmRequest(vm_id="x"), "NOT_FOUND", "vm_id: no VM with id 'x'"),
    ("CancelMigration", lambda i: pb.CancelMigrationRequest(migration_id="x"), "NOT_FOUND", "migration_id: no migration with id 'x'"),
    ("SetMigrationBandwidth", lambda i: pb.SetMigrationBandwidthRequest(migration_id="x"), "NOT_FOUND", "migration_id: no migration with id 'x'"),
    ("ListMigrationCandidates", lambda i: pb.ListMigrationCandidatesRequest(vm_id="x"), "NOT_FOUND", "vm_id: no VM with id 'x'"),
    ("SetHostMaintenance", lambda i: pb.SetHostMaintenanceRequest(host_id=i["host"], enabled=True), "FAILED_PRECONDITION", "bring its agent back first"),
]  # fmt: skip


async def snapshot(engine: Engine) -> tuple[Any, ...]:
    stub = engine.stub
    return (
        await stub.ListClusters(pb.ListClustersRequest()),
        await stub.ListNetworks(pb.ListNetworksRequest()),
        await stub.ListHosts(pb.ListHostsRequest()),
        await stub.ListEvents(pb.ListEventsRequest()),
    )


async def test_hostile_client_gets_named_errors_and_nothing_is_written(engine: Engine) -> None:
    ids = await base(engine)
    before = await snapshot(engine)
    failures = []
    for rpc, build, expected_code, fragment in HOSTILE:
        request = build(ids)
        code, details = await code_of(getattr(engine.stub, rpc)(request))
        if code.name != expected_code or fragment not in details:
            failures.append(f"{rpc}({str(request)[:60]!r}): {code.name} {details!r}")
        assert len(details) < 500, details  # huge input never echoes back whole
    assert failures == []
    assert await snapshot(engine) == before


async def test_watch_migrations_starts_with_its_snapshot_and_watch_events_checks_its_cluster(
    engine: Engine,
) -> None:
    stream = engine.stub.WatchMigrations(pb.WatchMigrationsRequest())
    assert (await stream.read()).snapshot_complete  # no migration yet
    stream.cancel()
    stream = engine.stub.WatchEvents(pb.WatchEventsRequest(cluster_id="cl-nope"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream.read()
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_role_of_another_cluster_is_untouched(engine: Engine) -> None:
    ids = await base(engine)
    stub = engine.stub
    # c2's migration network holds c2's role; granting it in c1 moves only c1's.
    reply = await stub.SetNetworkRole(
        pb.SetNetworkRoleRequest(network_id=ids["mgmt"], role=MIGRATION)
    )
    assert reply.previous_network_id == ids["mig"]
    c2 = (await stub.GetCluster(pb.GetClusterRequest(cluster_id=ids["c2"]))).cluster
    assert c2.migration_network_id == ids["other"]


async def test_role_change_refused_during_a_migration_record(engine: Engine) -> None:
    ids = await base(engine)
    vm = await insert_vm(engine.inventory, ids["host"], ids["c1"], name="db1")
    migration = await insert_migration(engine.inventory, vm, phase=MigrationPhase.QUEUED)
    for call in (
        engine.stub.SetNetworkRole(
            pb.SetNetworkRoleRequest(network_id=ids["mgmt"], role=MIGRATION)
        ),
        engine.stub.UnsetNetworkRole(
            pb.UnsetNetworkRoleRequest(network_id=ids["mig"], role=MIGRATION)
        ),
        engine.stub.DeleteNetwork(pb.DeleteNetworkRequest(network_id=ids["mig"])),
    ):
        code, details = await code_of(call)
        assert code == grpc.StatusCode.FAILED_PRECONDITION
        assert f"VM db1 (migration {migration.id}, queued)" in details
    # Visible through the API as records.
    listed = await engine.stub.ListMigrations(pb.ListMigrationsRequest(cluster_id=ids["c1"]))
    assert [m.id for m in listed.migrations] == [migration.id]
    assert listed.migrations[0].phase == MigrationPhase.QUEUED
    got = (await engine.stub.GetVm(pb.GetVmRequest(vm_id=vm.id))).vm
    assert (got.name, got.migration_id) == ("db1", migration.id)
    # Another cluster is free to change its migration network.
    await engine.stub.UnsetNetworkRole(
        pb.UnsetNetworkRoleRequest(network_id=ids["other"], role=MIGRATION)
    )


async def test_pagination(engine: Engine) -> None:
    stub = engine.stub
    for i in range(7):
        await stub.CreateCluster(pb.CreateClusterRequest(name=f"c{i}"))
    names, token, pages = [], "", 0
    while True:
        page = await stub.ListClusters(pb.ListClustersRequest(page_size=3, page_token=token))
        names += [c.name for c in page.clusters]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert names == [f"c{i}" for i in range(7)] and pages == 3
    # Default and maximum sizes.
    assert len((await stub.ListClusters(pb.ListClustersRequest())).clusters) == 7
    assert len((await stub.ListClusters(pb.ListClustersRequest(page_size=100_000))).clusters) == 7
    # A token works only for the list (and filters) it came from.
    first = await stub.ListEvents(pb.ListEventsRequest(page_size=2, after_sequence=1))
    assert [e.sequence for e in first.events] == [2, 3]
    code, details = await code_of(
        stub.ListEvents(pb.ListEventsRequest(page_size=2, page_token=first.next_page_token))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "other filters" in details
    second = await stub.ListEvents(
        pb.ListEventsRequest(page_size=2, after_sequence=1, page_token=first.next_page_token)
    )
    assert [e.sequence for e in second.events] == [4, 5]
    code, _ = await code_of(
        stub.ListNetworks(pb.ListNetworksRequest(page_token=first.next_page_token))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_client_branches_on_the_reason_and_reads_the_field_at_fault(
    engine: Engine,
) -> None:
    cluster = (await engine.stub.CreateCluster(pb.CreateClusterRequest(name="c1"))).cluster
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await engine.stub.CreateNetwork(
            pb.CreateNetworkRequest(cluster_id=cluster.id, name="n", subnet="10.0.1.0/33")
        )
    said = error_details(refused.value.trailing_metadata())
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (said.reason, said.domain) == (Reason.INVALID_FIELD, ERROR_DOMAIN)
    assert [field for field, _ in said.field_violations] == ["subnet"]
    # The sentence a person reads stays the message.
    assert said.field_violations[0][1] == refused.value.details()

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await engine.stub.GetHost(pb.GetHostRequest(host_id="host-nope"))
    said = error_details(missing.value.trailing_metadata())
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert (said.reason, dict(said.metadata)) == (Reason.NOT_FOUND, {"field": "host_id"})
    assert not said.field_violations


async def test_health_and_reflection(engine: Engine) -> None:
    health = health_pb2_grpc.HealthStub(engine.channel)
    for service in ("", ENGINE_SERVICE_NAME):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(engine.channel)
    stream = reflection.ServerReflectionInfo()
    await stream.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    await stream.write(
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=ENGINE_SERVICE_NAME)
    )
    services = await stream.read()
    names = {s.name for s in services.list_services_response.service}
    assert {ENGINE_SERVICE_NAME, "grpc.health.v1.Health"} <= names
    files = await stream.read()
    assert files.file_descriptor_response.file_descriptor_proto
    await stream.done_writing()


def _fill_ids(ids: dict[str, str]) -> Any:
    """Sets the request's id fields to real ones, so that the integer is what is judged."""
    by_field = {"cluster_id": ids["c1"], "network_id": ids["mig"], "host_id": ids["host"]}

    def fill(request: Any) -> None:
        for name, value in by_field.items():
            if name in request.DESCRIPTOR.fields_by_name:
                setattr(request, name, value)

    return fill


async def _outcome(engine: Engine, case: ExtremeRequest) -> tuple[grpc.StatusCode, str]:
    call = getattr(engine.stub, case.method)(case.request)
    if not case.server_streaming:
        return await code_of(call)
    try:
        # A refusal comes at once; an accepted watch may have nothing to send yet.
        await asyncio.wait_for(call.read(), timeout=1)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    except TimeoutError:
        pass
    finally:
        call.cancel()
    return grpc.StatusCode.OK, ""


async def test_every_integer_extreme_of_every_request_is_judged_never_a_crash(
    engine: Engine,
) -> None:
    ids = await base(engine)
    cases = list(extreme_requests(pb.DESCRIPTOR.services_by_name["EngineService"], _fill_ids(ids)))
    # Every integer type the contract uses appears, at both ends.
    assert {case.field_path for case in cases} >= {
        "after_sequence",
        "page_size",
        "policy.max_outgoing_per_host",
    }
    failures = []
    for case in cases:
        code, details = await _outcome(engine, case)
        if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) or (
            case.out_of_range
            and (code != grpc.StatusCode.INVALID_ARGUMENT or case.field_path not in details)
        ):
            failures.append(f"{case.method} {case.field_path}={case.value}: {code.name} {details}")
    assert failures == []


async def test_list_events_after_the_largest_uint64_is_refused_naming_the_field(
    engine: Engine,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await engine.stub.ListEvents(pb.ListEventsRequest(after_sequence=2**63))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    said = error_details(refused.value.trailing_metadata())
    assert [field for field, _ in said.field_violations] == ["after_sequence"]
    assert str(STORABLE_MAX) in (refused.value.details() or "")
