"""An in-memory hypervisor for unit tests, the engine's tests and scale runs.

Hosts share a `FakeFabric` (the "network" between them: peer URIs → hosts). A migration copies
memory at the job's bandwidth in iterations, the way QEMU's pre-copy does: the first iteration
sends all of the guest's memory, each later one what the guest dirtied during the previous one
(at `dirty_rate_bps`, at most `dirty_set_bytes` per iteration; a dirty-rate calculation sees
the same: at most `dirty_set_bytes` over its period); when what is left can be sent
within the allowed downtime the guest is paused and switched over. Time runs on a `FakeClock`
that can be sped up, and the simulation is advanced lazily, in closed form, whenever someone
looks, so a thousand idle VMs cost nothing.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from miglane.agent.domain.fabric import Flow, fair_rates
from miglane.agent.domain.model import (
    MIB,
    DiskKind,
    DomainInfo,
    HostFacts,
    JobStats,
    Nic,
    VmDisk,
    VmNic,
    VmState,
)
from miglane.agent.driver import DriverError, DriverErrorKind, JobListener, MigrationParams

DEFAULT_BANDWIDTH_BPS = 1024 * MIB  # libvirt 9.0 leaves QEMU uncapped: ~700 MiB/s measured
SAVE_BANDWIDTH_BPS = 512 * MIB
DEFAULT_MAX_DOWNTIME_MS = 300  # QEMU's default
SWITCH_OVER_OVERHEAD_MS = 15
MIN_ITERATION_S = 0.001
EGRESS, INGRESS = "egress", "ingress"
# A direction of one host NIC: (host name, NIC name, EGRESS or INGRESS).
Link = tuple[str, str, str]


class FakeClock:
    """Simulated seconds, running `speed` times faster than the monotonic clock."""

    def __init__(self, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._real0 = time.monotonic()
        self._sim0 = 0.0
        self._speed = float(speed)

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        with self._lock:
            now = time.monotonic()
            self._sim0 += (now - self._real0) * self._speed
            self._real0, self._speed = now, float(speed)

    def now(self) -> float:
        return self._sim0 + (time.monotonic() - self._real0) * self._speed

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self._speed


@dataclass
class FakeDomain:
    id: str
    name: str
    memory_mib: int
    state: VmState = VmState.RUNNING
    dirty_rate_bps: int = 0
    dirty_set_bytes: int = 0
    persistent: bool = True
    disks: tuple[VmDisk, ...] = ()
    nics: tuple[VmNic, ...] = ()

    def info(self) -> DomainInfo:
        return DomainInfo(
            self.id, self.name, self.state, self.memory_mib, disks=self.disks, nics=self.nics
        )


@dataclass
class _Job:
    kind: str  # "migration" or "save"
    domain: FakeDomain
    source: FakeHost
    destination: FakeHost | None
    params: MigrationParams | None
    bandwidth_bps: int
    started: float
    t: float
    path: str = ""
    max_downtime_ms: int = DEFAULT_MAX_DOWNTIME_MS
    to_send: int = 0
    sent_in_iteration: float = 0.0
    dirtied_in_iteration: float = 0.0
    iteration: int = 1
    processed: float = 0.0
    dirty_rate_bps: int = 0
    post_copy: bool = False
    done: bool = False
    error: DriverError | None = None
    downtime_ms: int = 0
    iteration_started: float = 0.0
    fail_at_bytes: float | None = None
    fail_kind: DriverErrorKind = DriverErrorKind.NETWORK
    # The guest was paused when the job started: it dirties no memory and, like libvirt's,
    # arrives paused.
    guest_paused: bool = False
    # Wakes the caller blocked in migrate()/save() when the job ends or its parameters change.
    cond: threading.Condition | None = None
    # Local disks copied ahead of the memory, in the first iteration.
    disk_bytes: int = 0
    # What the job sends at (bytes/s): its cap, or less when its links are shared.
    rate: float = 0.0
    # The fabric's links the job's data crosses (a migration: source egress, destination
    # ingress); none for a save.
    links: tuple[Link, ...] = ()

    def seconds_to_next_event(self) -> float:
        """Simulated seconds, at the current rate, until the iteration ends or the job fails."""
        if self.rate <= 0:
            return float("inf")
        bytes_left = self.to_send - self.sent_in_iteration
        if self.fail_at_bytes is not None:
            bytes_left = min(bytes_left, self.fail_at_bytes - self.processed)
        return max(bytes_left, 0.0) / self.rate

    @property
    def memory_bytes(self) -> int:
        return self.domain.memory_mib * MIB

    def stats(self) -> JobStats:
        # Whole bytes sent, as a real job counts them: a fraction of a byte moved (a clock
        # slowed to a crawl) leaves the remaining data whole.
        remaining = max(0, int(self.to_send) - int(self.sent_in_iteration))
        disk_processed = min(int(self.processed), self.disk_bytes)
        return JobStats(
            data_total=self.memory_bytes + self.disk_bytes,
            data_processed=int(self.processed),
            data_remaining=remaining,
            memory_bps=int(self.rate),
            dirty_rate_bps=self.dirty_rate_bps,
            iteration=self.iteration,
            elapsed_ms=int((self.t - self.started) * 1000),
            downtime_ms=self.downtime_ms,
            post_copy=self.post_copy,
            disk_total=self.disk_bytes,
            disk_processed=disk_processed,
            disk_remaining=self.disk_bytes - disk_processed,
        )


class FakeFabric:
    """The fake hosts of one test or scale run, the clock they share, and the wire between
    them: each host NIC with a speed is a link of that capacity each way, shared max-min fairly
    by the migrations crossing it (a host without NICs is not limited by its links). The jobs of
    every host are simulated together, so that a flow ending speeds up the others at once."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.lock = threading.RLock()
        self.hosts: dict[str, FakeHost] = {}
        self.default_bandwidth_bps = DEFAULT_BANDWIDTH_BPS
        # (host, VM UUID) whose job began an iteration or ended, not yet told to its listener.
        self._fired: list[tuple[FakeHost, str]] = []
        # While `advance` brings jobs to one moment: a job ending there shares when all did.
        self._sharing_deferred = False
        # Bytes each host NIC sent, (host name, NIC name) -> bytes: what migrations carried.
        self.sent: dict[tuple[str, str], float] = {}

    def add_host(
        self,
        name: str,
        *,
        peer_uri: str = "",
        cpus: int = 8,
        memory_mib: int = 32768,
        nics: tuple[Nic, ...] = (),
    ) -> FakeHost:
        host = FakeHost(
            self, name, peer_uri or f"qemu+tls://{name}/system", cpus, memory_mib, nics=nics
        )
        with self.lock:
            self.hosts[host.peer_uri] = host
        return host

    # -- links -------------------------------------------------------------------------------
    def capacities(self) -> dict[Link, float]:
        """Every link's capacity in bytes/s."""
        with self.lock:
            return {
                (host.name, nic.name, direction): nic.speed_mbps * 1_000_000 / 8
                for host in self.hosts.values()
                for nic in host.nics
                if nic.speed_mbps > 0
                for direction in (EGRESS, INGRESS)
            }

    def link_rates(self) -> dict[Link, float]:
        """What every link carries now, in bytes/s (the sum of its flows' rates)."""
        with self.lock:
            self.advance()
            load: dict[Link, float] = {}
            for job in self._running_jobs():
                for link in job.links:
                    load[link] = load.get(link, 0.0) + job.rate
            return load

    def _migration_links(
        self, source: FakeHost, destination: FakeHost, uri: str
    ) -> tuple[Link, ...]:
        """The source NIC's egress and the destination NIC's ingress a migration to `uri`
        crosses: the destination NIC holding the URI's address, the source NIC on its network."""
        try:
            address = ipaddress.ip_address(urlsplit(uri).hostname or "")
        except ValueError:
            return ()
        links: list[Link] = []
        if source.misroute_via:  # a route sends the data out of another NIC
            links.append((source.name, source.misroute_via, EGRESS))
        for nic in source.nics if not source.misroute_via else ():
            if any(address in ipaddress.ip_interface(a).network for a in nic.addresses):
                links.append((source.name, nic.name, EGRESS))
                break
        for nic in destination.nics:
            if any(address == ipaddress.ip_interface(a).ip for a in nic.addresses):
                links.append((destination.name, nic.name, INGRESS))
                break
        return tuple(links)

    # -- simulation --------------------------------------------------------------------------
    def _running_jobs(self) -> list[_Job]:
        return [job for host in self.hosts.values() for job in host.jobs.values() if not job.done]

    def start(self, job: _Job) -> None:
        """Puts `job` on the wire from now on; the others' rates change with it."""
        with self.lock:
            self.advance()
            job.cond = threading.Condition(self.lock)
            job.t = job.iteration_started = max(job.t, self.clock.now())
            if job.destination is not None and job.params is not None:
                job.links = self._migration_links(
                    job.source, job.destination, job.params.migration_uri
                )
            job.source.jobs[job.domain.id] = job
            self.share()

    def share(self) -> None:
        """Recomputes every running job's rate (after a flow started, ended or changed cap)."""
        jobs = self._running_jobs()
        flows = {id(job): Flow(float(job.bandwidth_bps), job.links) for job in jobs}
        rates = fair_rates(flows, self.capacities())
        for job in jobs:
            changed = job.rate != rates[id(job)]
            job.rate = rates[id(job)]
            if changed and job.cond is not None:
                job.cond.notify_all()

    def take_fired(self) -> list[tuple[FakeHost, str]]:
        with self.lock:
            fired = list(dict.fromkeys((host.name, vm_id) for host, vm_id in self._fired))
            hosts = {host.name: host for host, _ in self._fired}
            self._fired.clear()
        return [(hosts[name], vm_id) for name, vm_id in fired]

    def advance(self) -> None:
        """Runs every job up to now, event by event (an iteration ending, a job ending), with
        the rates shared anew whenever a job ends."""
        with self.lock:
            now = self.clock.now()
            while True:
                behind = [job for job in self._running_jobs() if job.t < now]
                if not behind:
                    return
                first = min(behind, key=lambda job: job.t + job.seconds_to_next_event())
                horizon = min(now, first.t + first.seconds_to_next_event())
                ended = False
                # Every job reaches the horizon at the rates it had before any of them ended
                # there: sharing anew in between would credit the others' time before the
                # horizon at the rates of after it.
                self._sharing_deferred = True
                try:
                    for job in behind:
                        if job is first or job.t < horizon:
                            self._step(job, max(horizon, job.t))
                            ended = ended or job.done
                finally:
                    self._sharing_deferred = False
                if ended:
                    self.share()

    def _step(self, job: _Job, until: float) -> None:
        """Sends at the job's rate up to `until` (at most to the end of its iteration), then
        begins the next iteration, switches over or fails as the job's state says."""
        dt = min(until - job.t, job.seconds_to_next_event())
        job.t += dt
        job.sent_in_iteration += job.rate * dt
        job.processed += job.rate * dt
        self._carry(job, job.rate * dt)
        if job.kind == "migration" and not job.post_copy and not job.guest_paused:
            job.dirtied_in_iteration = min(
                float(job.domain.dirty_set_bytes),
                job.dirtied_in_iteration + job.domain.dirty_rate_bps * dt,
            )
        if job.fail_at_bytes is not None and job.processed + 1 >= job.fail_at_bytes:
            self.finish(job, DriverError(job.fail_kind, "migration connection lost (injected)"))
            return
        if job.sent_in_iteration + 1 < job.to_send:
            return
        # one iteration done
        if job.kind == "save" or job.post_copy:
            self._switch_over(job, 0)
            return
        duration = max(job.t - job.iteration_started, MIN_ITERATION_S)
        job.dirty_rate_bps = int(job.dirtied_in_iteration / duration)
        dirty = int(job.dirtied_in_iteration)
        job.iteration += 1
        job.iteration_started = job.t
        job.to_send, job.sent_in_iteration, job.dirtied_in_iteration = dirty, 0.0, 0.0
        self._fired.append((job.source, job.domain.id))
        if dirty <= job.rate * job.max_downtime_ms / 1000:
            self._switch_over(job, dirty)

    def _carry(self, job: _Job, count: float) -> None:
        """Counts `count` bytes of the job on its source NIC's transmit counter."""
        for host, nic, direction in job.links:
            if direction == EGRESS:
                self.sent[host, nic] = self.sent.get((host, nic), 0.0) + count

    def _switch_over(self, job: _Job, final_bytes: int) -> None:
        pause = final_bytes / job.rate if job.rate > 0 else 0.0
        job.t += pause
        job.processed += final_bytes
        self._carry(job, final_bytes)
        job.sent_in_iteration = float(job.to_send)
        job.downtime_ms = int(pause * 1000) + SWITCH_OVER_OVERHEAD_MS
        domain = job.domain
        if job.kind == "save":
            with open(job.path, "w") as f:
                json.dump(dataclasses.asdict(domain) | {"state": VmState.SAVED.value}, f)
            domain.state = VmState.SAVED
            job.source.completed[domain.id] = job.stats()
        else:
            assert job.destination is not None and job.params is not None
            if job.params.undefine_source:
                del job.source.domains[domain.id]
            else:
                job.source.domains[domain.id] = dataclasses.replace(domain, state=VmState.SHUT_OFF)
                job.source.completed[domain.id] = job.stats()
            domain.state = VmState.PAUSED if job.guest_paused else VmState.RUNNING
            domain.persistent = job.params.persist_destination
            job.destination.domains[domain.id] = domain
            job.destination.completed[domain.id] = job.stats()
        self.finish(job, None)

    def finish(self, job: _Job, error: DriverError | None) -> None:
        """Ends `job` with `error` (None: it succeeded); the others share its links."""
        with self.lock:
            job.done, job.error = True, error
            job.source.jobs.pop(job.domain.id, None)
            if error is not None and job.processed > 0:
                # libvirt keeps a failed job's figures too (job type FAILED).
                job.source.completed[job.domain.id] = job.stats()
            self._fired.append((job.source, job.domain.id))
            if job.cond is not None:
                job.cond.notify_all()
            if not self._sharing_deferred:
                self.share()


@dataclass
class FakeHost:
    fabric: FakeFabric
    name: str
    peer_uri: str
    cpus: int
    memory_mib: int
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    domains: dict[str, FakeDomain] = field(default_factory=dict)
    completed: dict[str, JobStats] = field(default_factory=dict)
    jobs: dict[str, _Job] = field(default_factory=dict)
    # Holds its certificates (migration TLS works); False: a host never enrolled.
    tls_configured: bool = True
    reachable: bool = True
    # Every migration from this host fails with this kind halfway through (fault injection).
    fail_migrations_with: DriverErrorKind | None = None
    # ... after this many bytes instead (1: as soon as any data moved).
    fail_after_bytes: int | None = None
    listener: JobListener | None = None
    # Its NICs: those with a speed are the links its migrations cross.
    nics: tuple[Nic, ...] = ()
    # A NIC name: migrations from this host leave by it, whatever their URI (a misrouting
    # route, for the proof of path); "": by the NIC on the URI's network.
    misroute_via: str = ""
    # What each NIC sends besides migrations, bytes/s of simulated time (its counters grow).
    background_bps: int = 2000

    def nic_tx_bytes(self) -> dict[str, int]:
        """Bytes each NIC has sent: a plausible base, background traffic and what migrations
        carried out of it (the kernel's tx_bytes counters of a real host)."""
        with self.fabric.lock:
            self.fabric.advance()
            now = self.fabric.clock.now()
            return {
                nic.name: (
                    1_000_000 * (index + 1)
                    + int(self.background_bps * now)
                    + int(self.fabric.sent.get((self.name, nic.name), 0.0))
                )
                for index, nic in enumerate(self.nics)
            }

    def add_domain(
        self,
        name: str,
        *,
        memory_mib: int = 256,
        dirty_rate_mibps: float = 0.0,
        dirty_set_mib: int | None = None,
        running: bool = True,
        vm_id: str = "",
        disks: tuple[VmDisk, ...] = (),
        nics: tuple[VmNic, ...] = (),
    ) -> str:
        """Defines (and starts) a guest with `disks` and `nics`; returns its UUID."""
        domain = FakeDomain(
            vm_id or str(uuid.uuid4()),
            name,
            memory_mib,
            VmState.RUNNING if running else VmState.SHUT_OFF,
            int(dirty_rate_mibps * MIB),
            (dirty_set_mib if dirty_set_mib is not None else memory_mib) * MIB,
            disks=disks,
            nics=nics,
        )
        with self.fabric.lock:
            self.domains[domain.id] = domain
        return domain.id

    def pause_domain(self, vm_id: str) -> None:
        """Pauses a running guest (`virsh suspend`): it keeps its memory and dirties none."""
        with self.fabric.lock:
            domain = self.domains[vm_id]
            if domain.state is not VmState.RUNNING:
                raise DriverError(
                    DriverErrorKind.NOT_RUNNING, f"domain {domain.name} is not running"
                )
            domain.state = VmState.PAUSED

    def set_dirty_rate(self, vm_id: str, mibps: float, dirty_set_mib: int | None = None) -> None:
        with self.fabric.lock:
            domain = self.domains[vm_id]
            domain.dirty_rate_bps = int(mibps * MIB)
            if dirty_set_mib is not None:
                domain.dirty_set_bytes = dirty_set_mib * MIB


class FakeDriver:
    """`HypervisorDriver` over one `FakeHost`."""

    def __init__(self, host: FakeHost) -> None:
        self.host = host
        self.fabric = host.fabric
        self.clock = host.fabric.clock
        # vm_id -> (simulated time the calculation finishes, its period, the rate it measured
        # once read)
        self._dirty_calcs: dict[str, tuple[float, int, int | None]] = {}

    # -- inventory ---------------------------------------------------------------------------
    def host_facts(self) -> HostFacts:
        with self.fabric.lock:
            # A paused guest keeps its memory.
            used = sum(
                d.memory_mib
                for d in self.host.domains.values()
                if d.state in (VmState.RUNNING, VmState.PAUSED)
            )
            return HostFacts(
                host_uuid=self.host.uuid,
                hostname=self.host.name,
                libvirt_version="9.0.0",
                qemu_version="7.2.0 (fake)",
                cpus=self.host.cpus,
                memory_mib=self.host.memory_mib,
                free_memory_mib=max(0, self.host.memory_mib - used),
            )

    def list_domains(self) -> list[DomainInfo]:
        with self.fabric.lock:
            return [d.info() for d in self.host.domains.values()]

    def _domain(self, vm_id: str) -> FakeDomain:
        domain = self.host.domains.get(vm_id)
        if domain is None:
            raise DriverError(DriverErrorKind.NO_DOMAIN, f"no domain with UUID {vm_id!r} here")
        return domain

    def domain(self, vm_id: str) -> DomainInfo:
        with self.fabric.lock:
            return self._domain(vm_id).info()

    def _peer(self, peer_uri: str) -> FakeHost:
        peer = self.fabric.hosts.get(peer_uri)
        if peer is None or not peer.reachable:
            raise DriverError(
                DriverErrorKind.DESTINATION, f"unable to connect to destination {peer_uri}"
            )
        if peer is self.host:
            raise DriverError(
                DriverErrorKind.DESTINATION,
                f"{peer_uri} is this host (same host UUID): choose another destination",
            )
        return peer

    def check_peer(self, peer_uri: str) -> None:
        with self.fabric.lock:
            self._peer(peer_uri)

    # -- jobs --------------------------------------------------------------------------------
    def _start_job(self, job: _Job) -> None:
        if job.domain.id in self.host.jobs:
            raise DriverError(DriverErrorKind.OTHER, f"domain {job.domain.name} already has a job")
        self.host.completed.pop(job.domain.id, None)  # an earlier job's figures are not this one's
        self.fabric.start(job)

    def migrate(self, vm_id: str, params: MigrationParams) -> None:
        with self.fabric.lock:
            domain = self._domain(vm_id)
            # libvirt migrates a running or a paused domain.
            if domain.state not in (VmState.RUNNING, VmState.PAUSED):
                raise DriverError(
                    DriverErrorKind.NOT_RUNNING, f"domain {domain.name} is not running"
                )
            peer = self._peer(params.peer_uri)
            if params.encrypted and not (self.host.tls_configured and peer.tls_configured):
                lacking = (
                    f"this host ({self.host.name})"
                    if not self.host.tls_configured
                    else f"the destination {params.tls_destination or peer.name}"
                )
                raise DriverError(
                    DriverErrorKind.TLS_NOT_CONFIGURED,
                    f"{lacking} has no migration TLS certificates (ca-cert.pem, "
                    "server-cert.pem, server-key.pem, client-cert.pem, client-key.pem); "
                    "nothing was sent",
                )
            if vm_id in peer.domains and peer.domains[vm_id].state is not VmState.SHUT_OFF:
                raise DriverError(
                    DriverErrorKind.DESTINATION,
                    f"domain {domain.name} already exists on {peer.name}",
                )
            disk_bytes = self._copied_disk_bytes(domain, params)
            now = self.clock.now()
            bandwidth = (params.bandwidth_mibps or 0) * MIB or self.fabric.default_bandwidth_bps
            job = _Job(
                "migration",
                domain,
                self.host,
                peer,
                params,
                bandwidth,
                now,
                now,
                to_send=domain.memory_mib * MIB + disk_bytes,
                iteration_started=now,
                guest_paused=domain.state is VmState.PAUSED,
                disk_bytes=disk_bytes,
            )
            if self.host.fail_migrations_with is not None:
                after = self.host.fail_after_bytes
                job.fail_at_bytes = job.memory_bytes / 2 if after is None else after
                job.fail_kind = self.host.fail_migrations_with
            self._start_job(job)
        self._wait(job)

    @staticmethod
    def _copied_disk_bytes(domain: FakeDomain, params: MigrationParams) -> int:
        """Bytes of the local disks the migration copies; libvirt's refusal when a local disk
        is left out."""
        local = [d for d in domain.disks if d.kind is DiskKind.LOCAL]
        left_out = [d.target for d in local if d.target not in params.copy_disks]
        if left_out:
            raise DriverError(
                DriverErrorKind.OTHER,
                "Unsafe migration: Migration without shared storage is unsafe "
                f"(local disks {', '.join(left_out)})",
            )
        return sum(d.size_bytes for d in local)

    def save(self, vm_id: str, path: str) -> None:
        with self.fabric.lock:
            domain = self._domain(vm_id)
            if domain.state is not VmState.RUNNING:
                raise DriverError(
                    DriverErrorKind.NOT_RUNNING, f"domain {domain.name} is not running"
                )
            if not os.path.isdir(os.path.dirname(path) or "."):
                raise DriverError(DriverErrorKind.NOT_FOUND, f"no directory for {path}")
            now = self.clock.now()
            job = _Job(
                "save",
                domain,
                self.host,
                None,
                None,
                SAVE_BANDWIDTH_BPS,
                now,
                now,
                path=path,
                to_send=domain.memory_mib * MIB,
                iteration_started=now,
            )
            self._start_job(job)
        self._wait(job)

    def _wait(self, job: _Job) -> None:
        assert job.cond is not None
        while True:
            with job.cond:
                self.fabric.advance()
                if not job.done:
                    left = (job.to_send - job.sent_in_iteration) / max(job.rate, 1.0)
                    job.cond.wait(min(max(self.clock.real_seconds(left), 0.001), 0.5))
            self._notify()
            if job.done:
                break
        if job.error is not None:
            raise job.error

    def _notify(self) -> None:
        """Tells each host's listener about its jobs' new iterations and ends."""
        for host, vm_id in self.fabric.take_fired():
            listener = host.listener
            if listener is not None:
                listener(vm_id)

    def _job(self, vm_id: str) -> _Job:
        self._domain(vm_id)
        job = self.host.jobs.get(vm_id)
        if job is None:
            raise DriverError(DriverErrorKind.NO_JOB, f"no job runs for domain {vm_id}")
        return job

    def job_stats(self, vm_id: str) -> JobStats | None:
        with self.fabric.lock:
            job = self.host.jobs.get(vm_id)
            if job is None:
                return None
            self.fabric.advance()
            stats = None if job.done else job.stats()
        self._notify()
        return stats

    def outgoing_jobs(self) -> list[str]:
        with self.fabric.lock:
            return list(self.host.jobs)

    def completed_job_stats(self, vm_id: str, peer_uri: str = "") -> JobStats | None:
        with self.fabric.lock:
            stats = self.host.completed.get(vm_id)
            peer = self.fabric.hosts.get(peer_uri)
            if stats is None and peer is not None:
                stats = peer.completed.get(vm_id)
            return stats

    def arrived_at(self, vm_id: str, peer_uri: str) -> bool:
        with self.fabric.lock:
            peer = self.fabric.hosts.get(peer_uri)
            here = self.host.domains.get(vm_id)
            there = peer.domains.get(vm_id) if peer is not None else None
            gone = here is None or here.state is VmState.SHUT_OFF
            return gone and there is not None and there.state in (VmState.RUNNING, VmState.PAUSED)

    def abort(self, vm_id: str) -> None:
        with self.fabric.lock:
            job = self._job(vm_id)
            self.fabric.advance()
            if job.done:
                raise DriverError(DriverErrorKind.NO_JOB, "the job already ended")
            if job.post_copy:
                raise DriverError(
                    DriverErrorKind.UNSUPPORTED, "a migration in post-copy cannot be aborted"
                )
            self.fabric.finish(
                job,
                DriverError(
                    DriverErrorKind.CANCELLED,
                    f"operation aborted: job 'migration out' canceled by client ({job.kind})",
                ),
            )
        self._notify()

    def _update(self, vm_id: str, **changes: object) -> None:
        with self.fabric.lock:
            job = self._job(vm_id)
            self.fabric.advance()
            for name, value in changes.items():
                setattr(job, name, value)
            self.fabric.share()
        self._notify()

    def set_max_speed(self, vm_id: str, mibps: int) -> None:
        if mibps <= 0:
            raise DriverError(DriverErrorKind.OTHER, "bandwidth must be > 0")
        self._update(vm_id, bandwidth_bps=mibps * MIB)

    def set_max_downtime(self, vm_id: str, ms: int) -> None:
        self._update(vm_id, max_downtime_ms=ms)

    def start_post_copy(self, vm_id: str) -> None:
        with self.fabric.lock:
            job = self._job(vm_id)
            if job.kind != "migration" or job.params is None or not job.params.post_copy_allowed:
                raise DriverError(
                    DriverErrorKind.UNSUPPORTED,
                    "post-copy was not enabled when this migration started",
                )
            job.domain.state = VmState.PAUSED
        self._update(vm_id, post_copy=True)

    def restore(self, path: str) -> DomainInfo:
        try:
            with open(path) as f:
                saved = json.load(f)
        except (OSError, ValueError) as e:
            raise DriverError(
                DriverErrorKind.NOT_FOUND, f"cannot read saved state {path}: {e}"
            ) from e
        with self.fabric.lock:
            domain = self.host.domains.get(saved["id"])
            if domain is not None and domain.state is VmState.RUNNING:
                raise DriverError(DriverErrorKind.OTHER, f"domain {domain.name} is already running")
            saved["state"] = VmState.RUNNING
            domain = FakeDomain(**saved)
            self.host.domains[domain.id] = domain
            return domain.info()

    # -- dirty rate --------------------------------------------------------------------------
    def start_dirty_rate_calc(self, vm_id: str, seconds: int) -> None:
        with self.fabric.lock:
            domain = self._domain(vm_id)
            if domain.state is not VmState.RUNNING:
                raise DriverError(
                    DriverErrorKind.NOT_RUNNING, f"domain {domain.name} is not running"
                )
            self._dirty_calcs[vm_id] = (self.clock.now() + seconds, seconds, None)

    def dirty_rate(self, vm_id: str) -> int | None:
        with self.fabric.lock:
            domain = self._domain(vm_id)
            calc = self._dirty_calcs.get(vm_id)
            if calc is None or self.clock.now() < calc[0]:
                return None
            end, period, measured = calc
            if measured is None:
                # The configured rate when the period is over: a change during the period is
                # what the calculation saw last (read once, so later reads agree). A guest
                # rewriting its dirty set dirtied no more than it over the period.
                dirtied = min(domain.dirty_rate_bps * period, domain.dirty_set_bytes)
                measured = int(dirtied / period)
                self._dirty_calcs[vm_id] = (end, period, measured)
            return measured

    def set_job_listener(self, listener: JobListener | None) -> None:
        self.host.listener = listener

    def close(self) -> None:
        self.host.listener = None
