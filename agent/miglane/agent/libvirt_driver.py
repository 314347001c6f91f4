"""`HypervisorDriver` over libvirt: the only module of Miglane that imports libvirt.

libvirt error codes become `DriverErrorKind`s here (`driver_error`), so nothing above this
module needs to know them. Facts this relies on (libvirt 9.0, QEMU 7.2; see the lab notes):
`abortJob()` makes the migrate call fail with code 78 (OPERATION_ABORTED) in well under a
second, the guest staying on the source; job statistics of a finished migration are on the
destination when the source domain was undefined; `memory_dirty_rate` is in pages/s and 0 until
the second iteration; libvirt-python prints every error, even handled ones, unless an error
handler is registered. Copying local disks (NON_SHARED_DISK, an NBD mirror per disk before the
memory): libvirt precreates a missing destination image only where a storage pool covers its
directory and never removes one after a failed or cancelled copy (the agent does both itself);
the mirror honours VIR_MIGRATE_TLS and the bandwidth cap; job statistics carry `disk_*` while
copying, and `data_*` include them, but the completed job's statistics (on the destination)
have no disk figures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import libvirt

from miglane.agent.domain.model import MIB, DomainInfo, HostFacts, JobStats, VmDisk, VmState
from miglane.agent.driver import DriverError, DriverErrorKind, JobListener, MigrationParams
from miglane.agent.vm_devices import parse_disks, parse_nics
from miglane.pki import HOST_LAYOUT

log = logging.getLogger(__name__)

PEER_CONNECT_TIMEOUT_S = 3.0
# Where QEMU finds its TLS files when qemu.conf leaves migrate_tls_x509_cert_dir at its default.
DEFAULT_QEMU_TLS_DIR = "/etc/pki/qemu"
_PEER_PORTS = {"tcp": 16509, "tls": 16514}
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
PAGE_SIZE = 4096

_STATE = {
    libvirt.VIR_DOMAIN_RUNNING: VmState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: VmState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: VmState.PAUSED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: VmState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: VmState.RUNNING,
    libvirt.VIR_DOMAIN_SHUTOFF: VmState.SHUT_OFF,
    libvirt.VIR_DOMAIN_CRASHED: VmState.CRASHED,
}
_OUTGOING_OPERATIONS = (
    libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT,
    libvirt.VIR_DOMAIN_JOB_OPERATION_SAVE,
)
_UNSUPPORTED_CODES = (
    libvirt.VIR_ERR_NO_SUPPORT,
    libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
)
_CONNECT_CODES = (
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_AUTH_FAILED,
    libvirt.VIR_ERR_OPERATION_TIMEOUT,
)
_TLS_TEXT = re.compile(r"\bTLS\b|x509|certificate|credentials|/pki/", re.IGNORECASE)
_NETWORK_TEXT = re.compile(
    r"socket|connection (refused|reset|timed out)|broken pipe|failed to connect|"
    r"unable to (write|read)|network is unreachable|no route",
    re.IGNORECASE,
)

_event_loop_lock = threading.Lock()
_event_loop_started = False


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt-python prints every error to stderr by default; the agent reports them itself."""


libvirt.registerErrorHandler(_quiet, None)


def _ensure_event_loop() -> None:
    """libvirt's default event loop, run on one daemon thread per process: it delivers domain
    events and the keepalives that tell a dead peer."""
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _event_loop_started = True


def driver_error(e: libvirt.libvirtError, doing: str = "") -> DriverError:
    """What a libvirt error means for the agent."""
    code, domain = e.get_error_code(), e.get_error_domain()
    text = e.get_error_message() or str(e)
    message = f"{doing}: {text}" if doing else text
    if code == libvirt.VIR_ERR_OPERATION_ABORTED:
        kind = DriverErrorKind.CANCELLED
    elif code == libvirt.VIR_ERR_NO_DOMAIN:
        kind = DriverErrorKind.NO_DOMAIN
    elif _TLS_TEXT.search(text):
        kind = DriverErrorKind.TLS_NOT_CONFIGURED
    elif code == libvirt.VIR_ERR_OPERATION_INVALID and "not running" in text:
        kind = DriverErrorKind.NOT_RUNNING
    elif code == libvirt.VIR_ERR_OPERATION_INVALID and re.search(r"no job|not active", text):
        kind = DriverErrorKind.NO_JOB
    elif "same host" in text:
        kind = DriverErrorKind.DESTINATION
    elif code in _UNSUPPORTED_CODES:
        kind = DriverErrorKind.UNSUPPORTED
    elif code in _CONNECT_CODES or domain == libvirt.VIR_FROM_RPC:
        kind = DriverErrorKind.DESTINATION
    elif code == libvirt.VIR_ERR_OPERATION_FAILED and _NETWORK_TEXT.search(text):
        kind = DriverErrorKind.NETWORK
    elif code == libvirt.VIR_ERR_SYSTEM_ERROR and "No such file" in text:
        kind = DriverErrorKind.NOT_FOUND
    else:
        kind = DriverErrorKind.OTHER
    return DriverError(kind, message)


@contextlib.contextmanager
def _mapped(doing: str = "") -> Iterator[None]:
    try:
        yield
    except libvirt.libvirtError as e:
        raise driver_error(e, doing) from e


def _version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def _stats(raw: dict[str, Any]) -> JobStats:
    page = int(raw.get("memory_page_size") or PAGE_SIZE)
    return JobStats(
        data_total=int(raw.get("data_total", 0)),
        data_processed=int(raw.get("data_processed", 0)),
        data_remaining=int(raw.get("data_remaining", 0)),
        memory_bps=int(raw.get("memory_bps", 0)),
        dirty_rate_bps=int(raw.get("memory_dirty_rate", 0)) * page,
        iteration=int(raw.get("memory_iteration", 0)),
        elapsed_ms=int(raw.get("time_elapsed", 0)),
        downtime_ms=int(raw.get("downtime", 0)),
        disk_total=int(raw.get("disk_total", 0)),
        disk_processed=int(raw.get("disk_processed", 0)),
        disk_remaining=int(raw.get("disk_remaining", 0)),
    )


def _tcp_endpoint(uri: str) -> tuple[str, int] | None:
    parts = urlsplit(uri)
    transport = parts.scheme.partition("+")[2]
    if transport not in _PEER_PORTS or not parts.hostname:
        return None
    return parts.hostname, parts.port or _PEER_PORTS[transport]


def _disk_size(dom: libvirt.virDomain, target: str) -> int:
    """The disk's virtual size (virDomainGetBlockInfo's capacity); 0 when libvirt cannot tell
    (e.g. a network disk of a domain that is not running)."""
    try:
        return int(dom.blockInfo(target)[0])
    except libvirt.libvirtError:
        return 0


# A transient directory pool on a destination, for the images of copied disks: libvirt's
# storage API is how a source reaches the destination's file system.
_POOL_XML = "<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>"
_VOLUME_XML = (
    "<volume><name>{name}</name><capacity>{capacity}</capacity>"
    "<target><format type='{format}'/></target></volume>"
)
_CREATABLE_FORMATS = ("raw", "qcow2")


def _pool_for(peer: libvirt.virConnect, directory: str) -> libvirt.virStoragePool:
    """The destination's storage pool over `directory`, a transient one made when it has none
    (left in place: other migrations to that directory may be using it), making the directory
    when it is missing there."""
    with contextlib.suppress(libvirt.libvirtError):
        pool = peer.storagePoolLookupByTargetPath(directory)
        if not pool.isActive():
            pool.create(0)
        pool.refresh(0)
        return pool
    name = "miglane-" + re.sub(r"[^A-Za-z0-9]+", "-", directory).strip("-")[-40:]
    with _mapped(f"a storage pool over {directory} on the destination"):
        xml = _POOL_XML.format(name=name, path=directory)
        try:
            return peer.storagePoolCreateXML(xml, libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD)
        except libvirt.libvirtError as e:
            try:  # created meanwhile by a parallel migration
                pool = peer.storagePoolLookupByName(name)
            except libvirt.libvirtError:
                raise e from None
            pool.refresh(0)
            return pool


def create_destination_images(
    peer: libvirt.virConnect, disks: list[VmDisk]
) -> list[libvirt.virStorageVol]:
    """Empty images for the copied disks on the destination, at the paths the domain uses;
    DESTINATION when a file is already there (someone's data: never overwritten)."""
    created: list[libvirt.virStorageVol] = []
    try:
        for disk in disks:
            directory, name = os.path.split(disk.source)
            pool = _pool_for(peer, directory)
            with contextlib.suppress(libvirt.libvirtError):
                pool.storageVolLookupByName(name)
                raise DriverError(
                    DriverErrorKind.DESTINATION,
                    f"the destination already has a file {disk.source} (disk {disk.target}): "
                    "remove it there before copying the disk",
                )
            image_format = disk.format if disk.format in _CREATABLE_FORMATS else "raw"
            xml = _VOLUME_XML.format(name=name, capacity=disk.size_bytes, format=image_format)
            with _mapped(f"creating {disk.source} on the destination"):
                created.append(pool.createXML(xml, 0))
    except BaseException:
        remove_images(created)
        raise
    return created


def remove_images(volumes: list[libvirt.virStorageVol]) -> None:
    for volume in volumes:
        try:
            volume.delete(0)
        except libvirt.libvirtError as e:
            log.warning("could not remove the partial copy %s: %s", volume.path(), e)


class LibvirtDriver:
    """One host's libvirtd, reached at `uri` (e.g. its unix socket).

    `qemu_tls_dir` is where this host's QEMU finds its migration TLS files (checked before an
    encrypted migration). `client_pki_dir` is a libvirt `pkipath` (cacert.pem, clientcert.pem,
    clientkey.pem) for this process's own connections to peer daemons; None: libvirt's
    defaults under /etc/pki, as on a hypervisor host."""

    def __init__(
        self,
        uri: str,
        *,
        qemu_tls_dir: str = DEFAULT_QEMU_TLS_DIR,
        client_pki_dir: str | None = None,
    ) -> None:
        _ensure_event_loop()
        self.uri = uri
        self.qemu_tls_dir = qemu_tls_dir
        self.client_pki_dir = client_pki_dir
        self._lock = threading.Lock()
        self._conn: libvirt.virConnect | None = None
        self._listener: JobListener | None = None
        self._callbacks: list[int] = []
        self._connect()

    # -- connection --------------------------------------------------------------------------
    def _connect(self) -> libvirt.virConnect:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    if self._conn.isAlive():
                        return self._conn
                log.warning("connection to %s lost; reconnecting", self.uri)
                self._drop_connection()
            with _mapped(f"connecting to libvirt at {self.uri}"):
                conn = libvirt.open(self.uri)
            with contextlib.suppress(libvirt.libvirtError):
                conn.setKeepAlive(KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT)
            self._callbacks = [
                conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, self._on_event, None
                ),
                conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, self._on_event, None
                ),
            ]
            self._conn = conn
            return conn

    def _on_event(self, _conn: Any, dom: libvirt.virDomain, *_args: Any) -> None:
        listener = self._listener
        if listener is not None:
            try:
                listener(dom.UUIDString())
            except Exception:
                log.exception("job listener failed")

    def _dom(self, vm_id: str, conn: libvirt.virConnect | None = None) -> libvirt.virDomain:
        with _mapped(f"domain {vm_id}"):
            return (conn or self._connect()).lookupByUUIDString(vm_id)

    def _client_uri(self, peer_uri: str) -> str:
        """`peer_uri` as this process opens it: with its client identity when one was given."""
        if self.client_pki_dir is None or "pkipath=" in peer_uri:
            return peer_uri
        separator = "&" if "?" in peer_uri else "?"
        return f"{peer_uri}{separator}pkipath={self.client_pki_dir}"

    @contextlib.contextmanager
    def _own_connection(self, uri: str | None = None) -> Iterator[libvirt.virConnect]:
        """A connection of its own, so a long blocking call never queues behind polls; `uri`:
        a peer's."""
        target = self._client_uri(uri) if uri else self.uri
        with _mapped(f"connecting to libvirt at {uri or self.uri}"):
            conn = libvirt.open(target)
        try:
            yield conn
        finally:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

    # -- inventory ---------------------------------------------------------------------------
    def host_facts(self) -> HostFacts:
        conn = self._connect()
        with _mapped("reading host facts"):
            caps = ET.fromstring(conn.getCapabilities())
            info = conn.getInfo()
            return HostFacts(
                host_uuid=caps.findtext("host/uuid") or "",
                hostname=conn.getHostname(),
                libvirt_version=_version(conn.getLibVersion()),
                qemu_version=_version(conn.getVersion()),
                cpus=int(info[2]),
                memory_mib=int(info[1]),
                free_memory_mib=int(conn.getFreeMemory() // 2**20),
            )

    @staticmethod
    def _info(dom: libvirt.virDomain) -> DomainInfo:
        state, reason = dom.state()
        vm_state = _STATE.get(state, VmState.UNKNOWN)
        if state == libvirt.VIR_DOMAIN_SHUTOFF and reason == libvirt.VIR_DOMAIN_SHUTOFF_SAVED:
            vm_state = VmState.SAVED
        xml = dom.XMLDesc(0)
        return DomainInfo(
            dom.UUIDString(),
            dom.name(),
            vm_state,
            dom.maxMemory() // 1024,
            disks=parse_disks(xml, lambda target: _disk_size(dom, target)),
            nics=parse_nics(xml),
        )

    def list_domains(self) -> list[DomainInfo]:
        found = []
        with _mapped("listing domains"):
            domains = self._connect().listAllDomains()
        for dom in domains:
            with contextlib.suppress(libvirt.libvirtError):  # gone meanwhile
                found.append(self._info(dom))
        return found

    def domain(self, vm_id: str) -> DomainInfo:
        dom = self._dom(vm_id)
        with _mapped(f"domain {vm_id}"):
            return self._info(dom)

    def check_peer(self, peer_uri: str) -> None:
        endpoint = _tcp_endpoint(peer_uri)
        if endpoint is not None:
            # libvirt.open would wait for the kernel's TCP timeout on a silent peer
            try:
                socket.create_connection(endpoint, timeout=PEER_CONNECT_TIMEOUT_S).close()
            except OSError as e:
                raise DriverError(
                    DriverErrorKind.DESTINATION,
                    f"libvirt at {endpoint[0]}:{endpoint[1]} is not reachable: {e}",
                ) from e
        with self._own_connection(peer_uri) as peer, _mapped(f"asking {peer_uri}"):
            theirs = ET.fromstring(peer.getCapabilities()).findtext("host/uuid")
        mine = ET.fromstring(self._connect().getCapabilities()).findtext("host/uuid")
        if theirs == mine:
            raise DriverError(
                DriverErrorKind.DESTINATION,
                f"{peer_uri} is this host (host UUID {mine}): choose another destination",
            )

    # -- jobs --------------------------------------------------------------------------------
    def migrate(self, vm_id: str, params: MigrationParams) -> None:
        flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
        if params.persist_destination:
            flags |= libvirt.VIR_MIGRATE_PERSIST_DEST
        if params.undefine_source:
            flags |= libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
        typed: dict[str, Any] = {libvirt.VIR_MIGRATE_PARAM_URI: params.migration_uri}
        if params.encrypted:
            self._check_tls_files()
            flags |= libvirt.VIR_MIGRATE_TLS
            if params.tls_destination:
                typed[libvirt.VIR_MIGRATE_PARAM_TLS_DESTINATION] = params.tls_destination
        if params.compressed:
            flags |= libvirt.VIR_MIGRATE_COMPRESSED
        if params.auto_converge:
            flags |= libvirt.VIR_MIGRATE_AUTO_CONVERGE
        if params.post_copy_allowed:
            flags |= libvirt.VIR_MIGRATE_POSTCOPY
        if params.bandwidth_mibps:
            typed[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = params.bandwidth_mibps
        if params.parallel_connections:
            flags |= libvirt.VIR_MIGRATE_PARALLEL
            typed[libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS] = params.parallel_connections
        if params.copy_disks:
            # The NBD copy honours VIR_MIGRATE_TLS too (libvirt >= 6.0).
            flags |= libvirt.VIR_MIGRATE_NON_SHARED_DISK
            typed[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = list(params.copy_disks)
            typed[libvirt.VIR_MIGRATE_PARAM_DISKS_URI] = params.disks_uri
        with self._own_connection() as conn, self._destination_images(vm_id, params) as created:
            dom = self._dom(vm_id, conn)
            try:
                dom.migrateToURI3(params.peer_uri, typed, flags)
            except libvirt.libvirtError as e:
                remove_images(created)  # the destination's partial copy
                error = driver_error(e, "migration")
                data_host = urlsplit(params.migration_uri).hostname or ""
                if error.kind is DriverErrorKind.DESTINATION and data_host in error.message:
                    error.kind = DriverErrorKind.NETWORK  # the data connection, not the peer
                if error.kind is DriverErrorKind.TLS_NOT_CONFIGURED:
                    # this host's files were checked above: the destination's are at fault
                    destination = params.tls_destination or params.peer_uri
                    error.message = (
                        f"the destination {destination} cannot take an encrypted migration: "
                        f"{error.message} (its QEMU migration certificates: see "
                        "migrate_tls_x509_cert_dir in its qemu.conf)"
                    )
                raise error from e

    @contextlib.contextmanager
    def _destination_images(
        self, vm_id: str, params: MigrationParams
    ) -> Iterator[list[libvirt.virStorageVol]]:
        """The images of the copied disks, created on the destination for the migration
        (libvirt would only where a storage pool covers their directory)."""
        if not params.copy_disks:
            yield []
            return
        copied = [d for d in self.domain(vm_id).disks if d.target in params.copy_disks]
        with self._own_connection(params.peer_uri) as peer:
            yield create_destination_images(peer, copied)

    def _check_tls_files(self) -> None:
        """Refuses an encrypted migration this host cannot make, before libvirt starts it."""
        missing = [
            name
            for name in HOST_LAYOUT
            if not os.access(os.path.join(self.qemu_tls_dir, name), os.R_OK)
        ]
        if missing:
            raise DriverError(
                DriverErrorKind.TLS_NOT_CONFIGURED,
                f"this host has no migration TLS certificates: {', '.join(missing)} missing "
                f"in {self.qemu_tls_dir} (enrol the host, or see migrate_tls_x509_cert_dir in "
                "qemu.conf); nothing was sent",
            )

    def save(self, vm_id: str, path: str) -> None:
        with self._own_connection() as conn:
            dom = self._dom(vm_id, conn)
            with _mapped(f"saving to {path}"):
                dom.save(path)

    def job_stats(self, vm_id: str) -> JobStats | None:
        try:
            raw = self._dom(vm_id).jobStats()
        except DriverError as e:
            if e.kind is DriverErrorKind.NO_DOMAIN:
                return None  # undefined at the end of its migration
            raise
        except libvirt.libvirtError as e:
            error = driver_error(e, f"job stats of {vm_id}")
            if error.kind is DriverErrorKind.NO_DOMAIN:
                return None
            raise error from e
        if raw.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
            return None
        if raw.get("operation", _OUTGOING_OPERATIONS[0]) not in _OUTGOING_OPERATIONS:
            return None
        stats = _stats(raw)
        with contextlib.suppress(libvirt.libvirtError, DriverError):
            state, reason = self._dom(vm_id).state()
            if state == libvirt.VIR_DOMAIN_PAUSED and reason == libvirt.VIR_DOMAIN_PAUSED_POSTCOPY:
                stats = dataclasses.replace(stats, post_copy=True)
        return stats

    def outgoing_jobs(self) -> list[str]:
        found = []
        with _mapped("listing domains"):
            domains = self._connect().listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        for dom in domains:
            with contextlib.suppress(libvirt.libvirtError):
                raw = dom.jobStats()
                if raw.get("type", libvirt.VIR_DOMAIN_JOB_NONE) != libvirt.VIR_DOMAIN_JOB_NONE and (
                    raw.get("operation") in _OUTGOING_OPERATIONS
                ):
                    found.append(dom.UUIDString())
        return found

    def completed_job_stats(self, vm_id: str, peer_uri: str = "") -> JobStats | None:
        with contextlib.suppress(DriverError, libvirt.libvirtError):
            raw = self._dom(vm_id).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
            if raw.get("type", libvirt.VIR_DOMAIN_JOB_NONE) != libvirt.VIR_DOMAIN_JOB_NONE:
                return _stats(raw)
        if not peer_uri:
            return None
        with (
            contextlib.suppress(DriverError, libvirt.libvirtError),
            self._own_connection(peer_uri) as peer,
        ):
            raw = peer.lookupByUUIDString(vm_id).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
            if raw.get("type", libvirt.VIR_DOMAIN_JOB_NONE) != libvirt.VIR_DOMAIN_JOB_NONE:
                return _stats(raw)
        return None

    def arrived_at(self, vm_id: str, peer_uri: str) -> bool:
        try:
            if self._dom(vm_id).isActive():
                return False
        except DriverError as e:
            if e.kind is not DriverErrorKind.NO_DOMAIN:
                raise
        with self._own_connection(peer_uri) as peer:
            try:
                return bool(peer.lookupByUUIDString(vm_id).isActive())
            except libvirt.libvirtError:
                return False

    def abort(self, vm_id: str) -> None:
        dom = self._dom(vm_id)
        with _mapped("aborting the job"):
            dom.abortJob()

    def set_max_speed(self, vm_id: str, mibps: int) -> None:
        dom = self._dom(vm_id)
        with _mapped("setting the bandwidth"):
            dom.migrateSetMaxSpeed(mibps, 0)

    def set_max_downtime(self, vm_id: str, ms: int) -> None:
        dom = self._dom(vm_id)
        with _mapped("setting the maximum downtime"):
            dom.migrateSetMaxDowntime(ms, 0)

    def start_post_copy(self, vm_id: str) -> None:
        dom = self._dom(vm_id)
        with _mapped("switching to post-copy"):
            dom.migrateStartPostCopy(0)

    def restore(self, path: str) -> DomainInfo:
        conn = self._connect()
        with _mapped(f"restoring {path}"):
            desc = ET.fromstring(conn.saveImageGetXMLDesc(path, 0))
            conn.restore(path)
        return self.domain(desc.findtext("uuid") or "")

    def start_dirty_rate_calc(self, vm_id: str, seconds: int) -> None:
        dom = self._dom(vm_id)
        with _mapped(f"measuring the dirty rate of {vm_id}"):
            dom.startDirtyRateCalc(seconds, libvirt.VIR_DOMAIN_DIRTYRATE_MODE_PAGE_SAMPLING)

    def dirty_rate(self, vm_id: str) -> int | None:
        conn = self._connect()
        dom = self._dom(vm_id, conn)
        with _mapped(f"reading the dirty rate of {vm_id}"):
            found = conn.domainListGetStats([dom], libvirt.VIR_DOMAIN_STATS_DIRTYRATE)
        stats: dict[str, Any] = found[0][1] if found else {}
        if stats.get("dirtyrate.calc_status") != libvirt.VIR_DOMAIN_DIRTYRATE_MEASURED:
            return None
        # QEMU reports whole MiB/s ("megabytes" in libvirt's key are 2**20 bytes).
        return int(stats.get("dirtyrate.megabytes_per_second", 0)) * MIB

    def set_job_listener(self, listener: JobListener | None) -> None:
        self._listener = listener

    def close(self) -> None:
        self._listener = None
        with self._lock:
            self._drop_connection()

    def _drop_connection(self) -> None:
        """Deregisters the event callbacks and closes the connection (alive or not); the
        caller holds the lock."""
        if self._conn is None:
            return
        for callback in self._callbacks:
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.domainEventDeregisterAny(callback)
        self._callbacks = []
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.close()
        self._conn = None
