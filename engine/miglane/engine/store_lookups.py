"""Lookups for store work (a missing cluster, network or host is NotFound, naming the request
field) and paged listings read through the store worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from miglane.engine.domain.errors import NotFound
from miglane.engine.domain.model import Cluster, Host, Network
from miglane.engine.domain.paging import Listing, next_page_token, parse_page
from miglane.engine.domain.validation import validate_id
from miglane.engine.store import Page, Store
from miglane.engine.unit_of_work import StoreWorker

I = TypeVar("I")  # noqa: E741


def require_cluster(store: Store, cluster_id: str, field: str = "cluster_id") -> Cluster:
    cluster = store.get_cluster(validate_id(field, cluster_id, "cluster"))
    if cluster is None:
        raise NotFound(field, "cluster", cluster_id)
    return cluster


def require_network(store: Store, network_id: str, field: str = "network_id") -> Network:
    network = store.get_network(validate_id(field, network_id, "network"))
    if network is None:
        raise NotFound(field, "network", network_id)
    return network


def require_host(store: Store, host_id: str, field: str = "host_id") -> Host:
    host = store.get_host(validate_id(field, host_id, "host"))
    if host is None:
        raise NotFound(field, "host", host_id)
    return host


async def read_page(
    worker: StoreWorker,
    scope: str,
    page_size: int,
    page_token: str,
    fetch: Callable[[Store, int, int], Page[I]],
) -> Listing[I]:
    """One page of a listing: `fetch(store, after, size)` runs on the store worker; the page
    token is bound to `scope` (the listing and its filters)."""
    page = parse_page(page_size, page_token, scope)
    result = await worker.read(lambda store: fetch(store, page.after, page.size))
    token = "" if result.next_after is None else next_page_token(scope, result.next_after)
    return Listing(result.items, token)


async def check_cluster_exists(worker: StoreWorker, cluster_id: str) -> None:
    """NotFound unless the cluster exists (for listings filtered by a cluster)."""
    await worker.read(lambda store: require_cluster(store, cluster_id))


async def check_host_exists(worker: StoreWorker, host_id: str) -> None:
    await worker.read(lambda store: require_host(store, host_id))
