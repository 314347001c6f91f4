"""Hosts: add, read, list and remove, with their audit events; and the host read model
(`host_views`: a host with its derived network attachments and migration counts), which the
migration side reads too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from miglane.engine.actor import current_actor
from miglane.engine.domain import audit_messages as say
from miglane.engine.domain.attachments import derive_attachments
from miglane.engine.domain.errors import AlreadyExists, FailedPrecondition
from miglane.engine.domain.evacuation import evacuation_finish
from miglane.engine.domain.migratable import has_live_guest
from miglane.engine.domain.model import Event, Host, HostSpec, HostStatus, HostView, Network
from miglane.engine.domain.paging import Listing
from miglane.engine.domain.placement import prepare_for_placement
from miglane.engine.domain.validation import (
    validate_agent_address,
    validate_id,
    validate_name,
    validate_optional_id,
)
from miglane.engine.host_credentials import HostCredentials, check_identity_name
from miglane.engine.store import Page, Store
from miglane.engine.store_lookups import (
    check_cluster_exists,
    read_page,
    require_cluster,
    require_host,
)
from miglane.engine.unit_of_work import StoreWorker


def _evacuation(store: Store, host: Host) -> tuple[int, datetime | None]:
    """A host preparing for maintenance: its live VMs left, and when its evacuation should end."""
    if host.status is not HostStatus.PREPARING_FOR_MAINTENANCE:
        return 0, None
    left = sum(1 for vm in store.vms_of_host(host.id) if has_live_guest(vm.state))
    return left, evacuation_finish(host.id, store.active_migrations(host_id=host.id))


def host_views(store: Store, hosts: Sequence[Host]) -> list[HostView]:
    """The hosts with their attachments (derived from their NICs and their cluster's
    networks), their active migration counts and, while one prepares for maintenance, its
    evacuation's progress. Store work: runs on the store worker."""
    return _views(store, hosts, None)


class HostViewMemo:
    """`host_views` for the reads that decide migrations (every MigrateVm reads its cluster's
    hosts afresh): a host's view is reused while everything it derives from reads the same:
    the very same decoded host (`host_from_row` hands back one object per row's values), its
    cluster's networks, its migration counts and its evacuation. A reused view equals the one
    a rebuild would give, so it is never stale; what it saves is deriving the attachments and
    the placement row again. Store work: used on the store worker only."""

    def __init__(self) -> None:
        # Per host id: what its view derived from, and the view.
        self._kept: dict[str, tuple[_ViewInputs, HostView]] = {}
        # Per cluster: its networks as last read (equal reads share this one tuple).
        self._networks: dict[str, tuple[Network, ...]] = {}

    def __call__(self, store: Store, hosts: Sequence[Host]) -> list[HostView]:
        return _views(store, hosts, self)

    def networks(self, cluster_id: str, read: list[Network]) -> tuple[Network, ...]:
        networks = tuple(read)
        kept = self._networks.get(cluster_id)
        if kept is not None and kept == networks:
            return kept
        self._networks[cluster_id] = networks
        return networks

    def view(self, inputs: _ViewInputs) -> HostView:
        host, networks = inputs[0], inputs[1]
        kept = self._kept.get(host.id)
        if (
            kept is not None
            and kept[0][0] is host
            and kept[0][1] is networks
            and kept[0][2:] == inputs[2:]
        ):
            return kept[1]
        view = _view(inputs)
        prepare_for_placement((view,))
        self._kept[host.id] = (inputs, view)
        return view


# A host, its cluster's networks, its outgoing and incoming migrations, its evacuation's VMs
# left and finish: what its view derives from.
_ViewInputs = tuple[Host, tuple[Network, ...], int, int, int, datetime | None]


def _view(inputs: _ViewInputs) -> HostView:
    host, networks, outgoing, incoming, vms_left, finish = inputs
    return HostView(
        host=host,
        attachments=tuple(derive_attachments(networks, host.nics)),
        outgoing_migrations=outgoing,
        incoming_migrations=incoming,
        evacuation_vms_left=vms_left,
        evacuation_finish_at=finish,
    )


def _views(store: Store, hosts: Sequence[Host], memo: HostViewMemo | None) -> list[HostView]:
    networks: dict[str, tuple[Network, ...]] = {}
    counts = store.migration_counts([h.id for h in hosts], clusters={h.cluster_id for h in hosts})
    views = []
    for host in hosts:
        if host.cluster_id not in networks:
            read = store.networks_of_cluster(host.cluster_id)
            networks[host.cluster_id] = (
                memo.networks(host.cluster_id, read) if memo is not None else tuple(read)
            )
        inputs = (host, networks[host.cluster_id], *counts[host.id], *_evacuation(store, host))
        views.append(memo.view(inputs) if memo is not None else _view(inputs))
    return views


class HostService:
    # The read model, also as a member (for holders of the service rather than the module).
    host_views = staticmethod(host_views)

    def __init__(
        self,
        worker: StoreWorker,
        *,
        clock: Callable[[], datetime],
        make_id: Callable[[str], str],
        credentials: HostCredentials | None = None,
    ) -> None:
        """`credentials`: the engine's CA enrolling hosts; None (an inventory on its own, in
        tests) adds hosts without certificates."""
        self._worker = worker
        self._clock = clock
        self._make_id = make_id
        self._credentials = credentials

    def _with_certificates(self, views: list[HostView]) -> list[HostView]:
        """The views with their certificates' end (store work: the CA's files are read on the
        store worker's thread)."""
        if self._credentials is None or not views:
            return views
        ends = self._credentials.not_after((v.host.name for v in views), self._clock())
        return [replace(v, certificate_not_after=ends.get(v.host.name)) for v in views]

    async def add_host(self, spec: HostSpec) -> HostView:
        validate_id("cluster_id", spec.cluster_id, "cluster")
        name = validate_name("name", spec.name)
        check_identity_name("name", name)
        address = validate_agent_address("agent_address", spec.agent_address)

        def work(store: Store) -> tuple[HostView, list[Event]]:
            cluster = require_cluster(store, spec.cluster_id)
            taken = store.find_host(cluster_id=cluster.id, name=name)
            if taken is not None:
                raise AlreadyExists(
                    "name",
                    f"cluster {cluster.name!r} already has a host named {name!r} (id {taken.id})",
                )
            # The name is the host's certificate identity: one host of that name in all clusters.
            namesake = store.find_host_named(name)
            if namesake is not None:
                raise AlreadyExists(
                    "name",
                    f"host {name!r} (id {namesake.id}) already exists in another cluster; host "
                    "names are certificate identities, unique across clusters",
                )
            other = store.find_host_by_agent(address)
            if other is not None:
                raise AlreadyExists(
                    "agent_address",
                    f"host {other.name!r} (id {other.id}) already uses the agent at {address}",
                )
            host = Host(
                id=self._make_id("host"),
                cluster_id=cluster.id,
                name=name,
                agent_address=address,
                status=HostStatus.UNREACHABLE,
                status_reason=(
                    f"agent at {address} not contacted yet: the first poll is on its way"
                ),
                created_at=self._clock(),
            )
            store.insert_host(host)
            [view] = host_views(store, [host])
            enrolled = self._credentials.enrol(name, address) if self._credentials else None
            if enrolled is not None:
                view = replace(view, certificate_not_after=enrolled.not_after)
            event = say.host_added(
                cluster,
                host,
                self._clock(),
                actor=current_actor.get(),
                certificate_serial=enrolled.serial_hex if enrolled else "",
                missing_certificate=self._credentials is not None and enrolled is None,
            )
            return view, [event]

        return await self._worker.transact(work)

    async def get_host(self, host_id: str) -> HostView:
        def read(store: Store) -> HostView:
            return self._with_certificates(host_views(store, [require_host(store, host_id)]))[0]

        return await self._worker.read(read)

    async def list_hosts(
        self, cluster_id: str = "", page_size: int = 0, page_token: str = ""
    ) -> Listing[HostView]:
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        if cluster_id:
            await check_cluster_exists(self._worker, cluster_id)

        def fetch(store: Store, after: int, size: int) -> Page[HostView]:
            page = store.list_hosts(cluster_id, after, size)
            return Page(self._with_certificates(host_views(store, page.items)), page.next_after)

        return await read_page(
            self._worker, f"hosts?cluster={cluster_id}", page_size, page_token, fetch
        )

    async def remove_host(self, host_id: str) -> None:
        def work(store: Store) -> tuple[None, list[Event]]:
            host = require_host(store, host_id)
            active = store.active_migrations(host_id=host.id)
            if active:
                ids = ", ".join(m.id for m in active[:5])
                raise FailedPrecondition(
                    f"host {host.name!r} takes part in {len(active)} queued or running "
                    f"migration(s) ({ids}); wait for them or cancel them first"
                )
            cluster = store.get_cluster(host.cluster_id)
            vms = len(store.vms_of_host(host.id))
            store.delete_host(host.id)
            if self._credentials is not None:
                self._credentials.revoke(host.name, self._clock())
            cluster_name = cluster.name if cluster else host.cluster_id
            return None, [
                say.host_removed(host, cluster_name, vms, self._clock(), actor=current_actor.get())
            ]

        await self._worker.transact(work)
