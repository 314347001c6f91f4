"""A small, fixed inventory for tests, snapshots, the bench and `miglane tui --fake`."""

from __future__ import annotations

from miglane.tui.testing.fake_engine import FakeEngineClient
from miglane.v1 import common_pb2, engine_pb2

MANAGEMENT = common_pb2.NETWORK_ROLE_MANAGEMENT
DISPLAY = common_pb2.NETWORK_ROLE_DISPLAY
MIGRATION = common_pb2.NETWORK_ROLE_MIGRATION


def demo_engine(
    address: str = "fake://demo", autoplay_interval_s: float | None = None
) -> FakeEngineClient:
    """Two clusters.

    `prod` (level 4.8): `ovirtmgmt` (management, display), `migration` (the migration role),
    `storage` (required). host1 and host2 are fully attached; host3's migration link is down,
    so migrations to or from it fall back to management; host4 lacks the required `storage`
    network and is non-operational.
    `legacy` (level 3.2): management only; its migrations fall back for the cluster level.
    """
    fake = FakeEngineClient(address, autoplay_interval_s=autoplay_interval_s)
    prod = fake.add_cluster("prod", "4.8")
    mgmt = fake.add_network(
        prod, "ovirtmgmt", "10.0.1.0/24", required=True, roles=(MANAGEMENT, DISPLAY)
    )
    mig = fake.add_network(prod, "migration", "10.0.2.0/24", roles=(MIGRATION,))
    storage = fake.add_network(prod, "storage", "10.0.3.0/24", required=True)
    for index, name in enumerate(("host1", "host2", "host3"), start=1):
        fake.add_host(
            prod,
            name,
            nics=(
                (mgmt, "eth0", f"10.0.1.{10 + index}", True, 1000),
                (mig, "eth1", f"10.0.2.{10 + index}", name != "host3", 10000),
                (storage, "eth2", f"10.0.3.{10 + index}", True, 10000),
            ),
        )
    fake.add_host(
        prod,
        "host4",
        nics=((mgmt, "eth0", "10.0.1.14", True, 1000), (mig, "eth1", "10.0.2.14", True, 10000)),
        status=engine_pb2.HOST_STATUS_NON_OPERATIONAL,
        status_reason="required network 'storage' is missing",
    )
    fake.add_vm(fake.hosts["host-host1"], "web-1", 2048)
    fake.add_vm(fake.hosts["host-host1"], "web-2", 4096)
    fake.add_vm(fake.hosts["host-host1"], "db-1", 8192)
    fake.add_vm(fake.hosts["host-host2"], "cache-1", 1024)
    fake.add_vm(fake.hosts["host-host3"], "batch-1", 2048)

    legacy = fake.add_cluster("legacy", "3.2")
    old_mgmt = fake.add_network(
        legacy, "ovirtmgmt", "10.1.1.0/24", required=True, roles=(MANAGEMENT,)
    )
    old_mig = fake.add_network(legacy, "mig-legacy", "10.1.2.0/24")
    for index, name in enumerate(("old1", "old2"), start=1):
        fake.add_host(
            legacy,
            name,
            memory_mib=32768,
            nics=(
                (old_mgmt, "eno1", f"10.1.1.{10 + index}", True, 1000),
                (old_mig, "eno2", f"10.1.2.{10 + index}", True, 1000),
            ),
        )
    fake.add_vm(fake.hosts["host-old1"], "legacy-app", 1024)
    return fake
