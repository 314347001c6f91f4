"""HostViewMemo: a host's view is reused only while everything it derives from reads the same,
so every read equals `host_views` read afresh (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_backends import DatabaseOf

from miglane.engine.domain.model import (
    Cluster,
    Host,
    HostFacts,
    HostStatus,
    HostView,
    Migration,
    MigrationPhase,
    MigrationPolicy,
    Network,
    Nic,
    Vm,
    VmState,
)
from miglane.engine.hosts import HostViewMemo, host_views
from miglane.engine.store import Store

pytestmark = pytest.mark.both_store_backends

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
LATER = datetime(2026, 3, 4, 5, 7, 7, tzinfo=UTC)


def nic(address: str, *, link_up: bool = True) -> Nic:
    return Nic("eth0", (address,), link_up, 10000, 1500, "52:54:00:00:00:01")


def host(id_: str, address: str) -> Host:
    return Host(
        id_, "cl-1", id_, f"127.0.0.1:{50000 + int(id_[-1])}", HostStatus.UP, "", NOW,
        nics=(nic(address),), facts=HostFacts(hostname=id_, memory_mib=8192),
        last_seen_at=NOW,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path, database_of: DatabaseOf):  # type: ignore[no-untyped-def]
    opened = Store.connect(database_of(tmp_path))
    with opened.transaction():
        opened.insert_cluster(Cluster("cl-1", "c1", "4.7", MigrationPolicy(), "", NOW))
        opened.insert_network(
            Network("net-a", "cl-1", "a", "10.0.1.0/24", required=True, created_at=NOW)
        )
        opened.insert_host(host("host-1", "10.0.1.1/24"))
        opened.insert_host(host("host-2", "10.0.1.2/24"))
        opened.replace_host_vms(
            "host-1", [Vm("vm-1", "web", "host-1", "cl-1", VmState.RUNNING, 512)]
        )
    yield opened
    opened.close()


def read(store: Store, memo: HostViewMemo) -> list[HostView]:
    return memo(store, store.hosts_of_cluster("cl-1"))


def stored(store: Store, host_id: str) -> Host:
    found = store.get_host(host_id)
    assert found is not None
    return found


def reported_again(store: Store) -> None:
    store.update_host(replace(stored(store, "host-1"), last_seen_at=LATER))


def new_nic(store: Store) -> None:
    store.update_host(replace(stored(store, "host-1"), nics=(nic("10.0.1.9/24", link_up=False),)))


def new_network(store: Store) -> None:
    store.insert_network(
        Network("net-b", "cl-1", "b", "10.0.1.0/25", required=False, created_at=NOW)
    )


def migration_started(store: Store) -> None:
    store.insert_migration(
        Migration(
            "mig-1", "cl-1", "vm-1", "host-1", MigrationPhase.RUNNING, NOW,
            destination_host_id="host-2",
        )
    )  # fmt: skip


def maintenance(store: Store) -> None:
    store.update_host(replace(stored(store, "host-1"), status=HostStatus.PREPARING_FOR_MAINTENANCE))


def nothing(store: Store) -> None:
    pass


@pytest.mark.parametrize(
    ("change", "rebuilt"),
    [
        (nothing, set()),
        (reported_again, {"host-1"}),
        (new_nic, {"host-1"}),
        (new_network, {"host-1", "host-2"}),
        (migration_started, {"host-1", "host-2"}),
        (maintenance, {"host-1"}),
    ],
)
def test_a_view_is_rebuilt_exactly_when_what_it_derives_from_changed(
    store: Store, change: Callable[[Store], None], rebuilt: set[str]
) -> None:
    memo = HostViewMemo()
    before = {view.host.id: view for view in read(store, memo)}
    with store.transaction():
        change(store)
    after = read(store, memo)
    assert after == host_views(store, store.hosts_of_cluster("cl-1"))
    assert {view.host.id for view in after if view is not before[view.host.id]} == rebuilt
    # Every view the memo hands out is ready for placement (its row derived on the worker).
    assert all(view.placement_row is not None for view in after)


def test_a_change_rolled_back_is_not_served(store: Store) -> None:
    memo = HostViewMemo()
    kept = read(store, memo)
    with pytest.raises(RuntimeError), store.transaction():
        new_nic(store)
        assert read(store, memo) == host_views(store, store.hosts_of_cluster("cl-1"))
        raise RuntimeError("undo")
    after = read(store, memo)
    assert after == kept
    assert after == host_views(store, store.hosts_of_cluster("cl-1"))


def test_rows_read_again_unchanged_decode_to_the_same_objects(store: Store) -> None:
    assert store.get_host("host-1") is store.hosts_of_cluster("cl-1")[0]
    assert store.get_vm("vm-1") is store.get_vms(["vm-1"])[0]


@pytest.mark.parametrize(
    ("change", "host_changed", "vm_changed"),
    [
        (reported_again, True, False),
        (new_nic, True, False),
        (migration_started, False, True),  # the VM row joins its active migration's id
    ],
)
def test_a_changed_row_decodes_anew(
    store: Store, change: Callable[[Store], None], host_changed: bool, vm_changed: bool
) -> None:
    host, vm = stored(store, "host-1"), store.get_vm("vm-1")
    with store.transaction():
        change(store)
    host_after, vm_after = stored(store, "host-1"), store.get_vm("vm-1")
    assert (host_after is not host, host_after != host) == (host_changed, host_changed)
    assert (vm_after is not vm, vm_after != vm) == (vm_changed, vm_changed)
