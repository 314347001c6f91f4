"""Reads of the VM and migration records, as the API lists them (filters validated, paged)."""

from __future__ import annotations

from miglane.engine.domain.errors import InvalidArgument, NotFound
from miglane.engine.domain.model import Migration, MigrationFilter, MigrationPhase, Vm
from miglane.engine.domain.paging import Listing
from miglane.engine.domain.validation import validate_id, validate_optional_id
from miglane.engine.store import Store
from miglane.engine.store_lookups import check_cluster_exists, check_host_exists, read_page
from miglane.engine.unit_of_work import StoreWorker


class VmRecords:
    def __init__(self, worker: StoreWorker) -> None:
        self._worker = worker

    async def get_vm(self, vm_id: str) -> Vm:
        validate_id("vm_id", vm_id, "VM")

        def work(store: Store) -> Vm:
            vm = store.get_vm(vm_id)
            if vm is None:
                raise NotFound("vm_id", "VM", vm_id)
            return vm

        return await self._worker.read(work)

    async def list_vms(
        self, cluster_id: str = "", host_id: str = "", page_size: int = 0, page_token: str = ""
    ) -> Listing[Vm]:
        cluster_id = validate_optional_id("cluster_id", cluster_id, "cluster")
        host_id = validate_optional_id("host_id", host_id, "host")
        if cluster_id:
            await check_cluster_exists(self._worker, cluster_id)
        if host_id:
            await check_host_exists(self._worker, host_id)
        return await read_page(
            self._worker,
            f"vms?cluster={cluster_id}&host={host_id}",
            page_size,
            page_token,
            lambda store, after, size: store.list_vms(cluster_id, host_id, after, size),
        )


class MigrationRecords:
    """The stored migration records (the migration side keeps the newest versions in flight)."""

    def __init__(self, worker: StoreWorker) -> None:
        self._worker = worker

    async def get_migration(self, migration_id: str) -> Migration:
        validate_id("migration_id", migration_id, "migration")

        def work(store: Store) -> Migration:
            migration = store.get_migration(migration_id)
            if migration is None:
                raise NotFound("migration_id", "migration", migration_id)
            return migration

        return await self._worker.read(work)

    async def list_migrations(
        self, where: MigrationFilter, page_size: int = 0, page_token: str = ""
    ) -> Listing[Migration]:
        """History included: the filters are not checked against existing clusters/hosts."""
        where = MigrationFilter(
            cluster_id=validate_optional_id("cluster_id", where.cluster_id, "cluster"),
            vm_id=validate_optional_id("vm_id", where.vm_id, "VM"),
            host_id=validate_optional_id("host_id", where.host_id, "host"),
            phases=frozenset(_validate_phases(where.phases)),
        )
        phases = ",".join(str(int(p)) for p in sorted(where.phases))
        scope = (
            f"migrations?cluster={where.cluster_id}&vm={where.vm_id}&host={where.host_id}"
            f"&phases={phases}"
        )
        return await read_page(
            self._worker,
            scope,
            page_size,
            page_token,
            lambda store, after, size: store.list_migrations(where, after, size),
        )


def _validate_phases(phases: frozenset[MigrationPhase]) -> list[MigrationPhase]:
    for phase in phases:
        if phase is MigrationPhase.UNSPECIFIED:
            raise InvalidArgument("phases", "holds MIGRATION_PHASE_UNSPECIFIED; list real phases")
    return sorted(phases)
