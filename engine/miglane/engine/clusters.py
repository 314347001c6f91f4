"""Clusters: create, read, list, update (name, level, policy, description) and delete, each
validated and written with its audit event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from miglane.engine.actor import current_actor
from miglane.engine.domain import audit_messages as say
from miglane.engine.domain.errors import AlreadyExists, FailedPrecondition
from miglane.engine.domain.model import Cluster, ClusterPatch, ClusterSpec, Event
from miglane.engine.domain.paging import Listing
from miglane.engine.domain.roles import level_change_moves_migrations, refuse_while_migrating
from miglane.engine.domain.validation import (
    resolve_policy,
    validate_compatibility_version,
    validate_description,
    validate_name,
)
from miglane.engine.store import Store
from miglane.engine.store_lookups import read_page, require_cluster
from miglane.engine.unit_of_work import StoreWorker

_UPDATABLE = ("name", "compatibility_version", "policy", "description")


class ClusterService:
    def __init__(
        self,
        worker: StoreWorker,
        *,
        clock: Callable[[], datetime],
        make_id: Callable[[str], str],
    ) -> None:
        self._worker = worker
        self._clock = clock
        self._make_id = make_id

    async def create_cluster(self, spec: ClusterSpec) -> Cluster:
        name = validate_name("name", spec.name)
        version = validate_compatibility_version(
            "compatibility_version", spec.compatibility_version
        )
        policy = resolve_policy("policy", spec.policy)
        description = validate_description("description", spec.description)

        def work(store: Store) -> tuple[Cluster, list[Event]]:
            _refuse_taken_name(store, name)
            cluster = Cluster(
                id=self._make_id("cl"),
                name=name,
                compatibility_version=version,
                policy=policy,
                description=description,
                created_at=self._clock(),
            )
            store.insert_cluster(cluster)
            return cluster, [say.cluster_created(cluster, self._clock(), actor=current_actor.get())]

        return await self._worker.transact(work)

    async def get_cluster(self, cluster_id: str) -> Cluster:
        return await self._worker.read(lambda store: require_cluster(store, cluster_id))

    async def list_clusters(self, page_size: int = 0, page_token: str = "") -> Listing[Cluster]:
        return await read_page(self._worker, "clusters", page_size, page_token, Store.list_clusters)

    async def update_cluster(self, patch: ClusterPatch) -> Cluster:
        validated = _validated_patch(patch)

        def work(store: Store) -> tuple[Cluster, list[Event]]:
            cluster = require_cluster(store, patch.cluster_id)
            updated = replace(cluster, **validated)
            changed = [f for f in _UPDATABLE if getattr(updated, f) != getattr(cluster, f)]
            if not changed:
                return cluster, []
            if updated.name != cluster.name:
                _refuse_taken_name(store, updated.name)
            if level_change_moves_migrations(
                cluster.compatibility_version, updated.compatibility_version
            ):
                refuse_while_migrating(
                    f"change cluster {cluster.name!r} from level "
                    f"{cluster.compatibility_version} to {updated.compatibility_version} "
                    "(it changes which network carries migrations)",
                    store.active_migrations(cluster.id),
                )
            store.update_cluster(updated)
            return updated, [
                say.cluster_updated(
                    cluster, updated, changed, self._clock(), actor=current_actor.get()
                )
            ]

        return await self._worker.transact(work)

    async def delete_cluster(self, cluster_id: str) -> None:
        def work(store: Store) -> tuple[None, list[Event]]:
            cluster = require_cluster(store, cluster_id)
            networks, hosts = store.count_networks(cluster.id), store.count_hosts(cluster.id)
            if networks or hosts:
                raise FailedPrecondition(
                    f"cluster {cluster.name!r} still has {networks} network(s) and {hosts} "
                    "host(s); remove them first"
                )
            store.delete_cluster(cluster.id)
            return None, [say.cluster_deleted(cluster, self._clock(), actor=current_actor.get())]

        await self._worker.transact(work)


def _refuse_taken_name(store: Store, name: str) -> None:
    taken = store.find_cluster_by_name(name)
    if taken is not None:
        raise AlreadyExists("name", f"a cluster named {name!r} exists (id {taken.id})")


def _validated_patch(patch: ClusterPatch) -> dict[str, Any]:
    """The fields the patch changes, validated."""
    changes: dict[str, Any] = {}
    if patch.name is not None:
        changes["name"] = validate_name("name", patch.name)
    if patch.compatibility_version is not None:
        changes["compatibility_version"] = validate_compatibility_version(
            "compatibility_version", patch.compatibility_version
        )
    if patch.policy is not None:
        changes["policy"] = resolve_policy("policy", patch.policy)
    if patch.description is not None:
        changes["description"] = validate_description("description", patch.description)
    return changes
