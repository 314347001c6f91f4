"""The lab: N hypervisor hosts on this machine, with separate management and migration networks.

    lab = Lab("/tmp/my-lab")
    status = lab.up(hosts=3, mig_mbit=2000)
    lab.create_vm("host1", "vm1", memory_mib=256)
    ...  # migrate host1 -> host2 with status.host("host2").peer_uri / .migration_uri
    lab.down()

Every operation is idempotent and works from any process: what was started is recorded in
the state file under the base directory, and checked against the running system.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import agents, daemons, guests, libvirtd, packages, pki, vmnets
from . import network as nets
from .commands import REQUIRED_TOOLS, tool
from .devices import DiskSpec
from .errors import LabError
from .guest import GuestPhase, build_guest_kernel
from .guests import GuestOs
from .layout import HostPaths, LabPaths
from .linux import LinuxPhase
from .network import NicCounters
from .observe import read_status
from .plan import DEFAULT_AGENT_PORT, MAX_HOSTS, HostPlan, LabPlan, Network, host_index, plan_lab
from .processes import stop_processes
from .state import HostRecord, LabState, load_state, save_state
from .status import LabStatus, VmInfo
from .teardown import stop_hosts, tear_down

DEFAULT_BASE_DIR = "/var/lib/miglane-lab"
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._/-]+$")
BASE_DIR_ENV = "MIGLANE_LAB_DIR"


def default_base_dir() -> Path:
    return Path(os.environ.get(BASE_DIR_ENV) or DEFAULT_BASE_DIR)


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (network namespaces, bridges, libvirtd): run it with sudo"
        )


class Lab:
    """A lab under `base_dir`, in `slot` (0 for the operator's lab; tests use other slots)."""

    def __init__(self, base_dir: str | Path | None = None, *, slot: int = 0) -> None:
        self.paths = LabPaths(Path(base_dir or default_base_dir()).resolve())
        self.slot = slot
        if not _SAFE_PATH.match(str(self.base_dir)):
            # it ends up in libvirt URIs and config files
            raise LabError(
                f"base directory {self.base_dir} may hold only letters, digits and . _ - /"
            )
        try:
            plan_lab(slot, 0)
        except ValueError as exc:
            raise LabError(str(exc)) from exc
        # Children this process started: reaped on down, so they do not linger as zombies.
        self._children: list[subprocess.Popen[bytes]] = []

    @property
    def pki_dir(self) -> Path:
        """The CA of the lab's agents' credentials (see `agents.pki_dir`)."""
        return agents.pki_dir(self.paths.base)

    @property
    def base_dir(self) -> Path:
        return self.paths.base

    # -- bringing it up ---------------------------------------------------------------------

    def up(
        self,
        hosts: int = 3,
        *,
        mgmt_mbit: int | None = None,
        mig_mbit: int | None = None,
        agents: bool = False,
        agent_port: int = DEFAULT_AGENT_PORT,
        install: bool = True,
        vm_networks: Mapping[str, Sequence[str]] | None = None,
    ) -> LabStatus:
        """Brings the lab to `hosts` running hosts; what already runs is kept.

        `mgmt_mbit`/`mig_mbit` cap each host's link on that network (None: no cap);
        `vm_networks` maps a network guests' vNICs may use to the hosts that have its bridge;
        `agents` starts a Miglane agent per host on `<mgmt addr>:<agent_port>`;
        `install` installs missing Debian packages with apt-get.
        """
        require_root()
        if not 2 <= hosts <= MAX_HOSTS:
            raise LabError(f"a lab has between 2 and {MAX_HOSTS} hosts, not {hosts}")
        for mbit in (mgmt_mbit, mig_mbit):
            if mbit is not None and mbit <= 0:
                raise LabError(f"a link rate must be a positive number of Mbit/s, not {mbit}")
        existed = self.base_dir.exists()
        try:
            with self._locked():
                self._up_locked(
                    hosts, mgmt_mbit, mig_mbit, agents, agent_port, install, vm_networks or {}
                )
        except LabError:
            if not existed and not self.paths.state_file.exists():
                shutil.rmtree(self.base_dir, ignore_errors=True)  # nothing started: no trace
            raise
        return self.status()

    def _up_locked(
        self,
        hosts: int,
        mgmt_mbit: int | None,
        mig_mbit: int | None,
        agents: bool,
        agent_port: int,
        install: bool,
        vm_networks: Mapping[str, Sequence[str]],
    ) -> None:
        self._prepare_machine(install)
        state = self._load_state_for_up()
        plan = plan_lab(self.slot, hosts)
        nets.check_slot_free(plan, owner=str(self.base_dir))
        kernel = build_guest_kernel(self.paths.guest_dir)
        self._shrink(state, hosts)
        known = {record.name for record in state.hosts}
        state.hosts += [HostRecord(h.name) for h in plan.hosts if h.name not in known]
        state.mgmt_mbit, state.mig_mbit, state.guest_kernel = mgmt_mbit, mig_mbit, str(kernel)
        vmnets.record(plan, state, vm_networks)
        save_state(self.paths.state_file, state)  # before anything starts: down can undo it
        try:
            nets.ensure_bridges(plan, owner=str(self.base_dir))
            for host in plan.hosts:
                nets.ensure_host_network(plan, host)
                nets.set_rate(host, Network.MGMT, mgmt_mbit)
                nets.set_rate(host, Network.MIG, mig_mbit)
            self._provision_identities(plan)
            vmnets.ensure_bridges(plan, state)
            daemons.start_daemons(self.paths, plan, state, self._children)
            if agents:
                self._start_agents(plan, state, agent_port)
        except LabError as exc:
            raise LabError(
                f"{exc}\nThe lab is partly up: `miglane lab up` again retries, "
                f"`miglane lab down` removes it."
            ) from exc

    def _prepare_machine(self, install: bool) -> None:
        if install:
            packages.ensure_packages()
        missing = [name for name in REQUIRED_TOOLS if not _has_tool(name)]
        if missing:
            needed = sorted({REQUIRED_TOOLS[name] for name in missing})
            raise LabError(
                f"missing tools {', '.join(missing)}: install the Debian packages "
                f"{' '.join(needed)} (or run `miglane lab up` without --no-install)"
            )
        packages.ensure_qemu_user()

    def _load_state_for_up(self) -> LabState:
        try:
            state = load_state(self.paths.state_file)
        except LabError:
            state = None  # a broken file from a crash: the running system is checked anyway
        if state is None:
            return LabState(slot=self.slot)
        if state.slot != self.slot and state.hosts:
            raise LabError(
                f"the lab in {self.base_dir} runs in slot {state.slot}, not {self.slot}: "
                f"bring it down first"
            )
        state.slot = self.slot
        return state

    def _shrink(self, state: LabState, hosts: int) -> None:
        extra = [record for record in state.hosts if host_index(record.name) > hosts]
        if not extra:
            return
        old_plan = plan_lab(self.slot, max(host_index(record.name) for record in state.hosts))
        stop_hosts(self.paths, extra, [old_plan.host(record.name) for record in extra])
        self._reap_children()
        for record in extra:
            nets.remove_host_network(old_plan.host(record.name))
            shutil.rmtree(self.paths.host(record.name).root, ignore_errors=True)
        state.hosts = [record for record in state.hosts if record not in extra]

    def _provision_identities(self, plan: LabPlan) -> None:
        """Certificates from the lab's CA in each host's /etc/pki, names in its /etc/hosts."""
        pki.provision_lab_pki(self.base_dir, plan.hosts)
        host_paths = [self.paths.host(host.name) for host in plan.hosts]
        for host, paths in zip(plan.hosts, host_paths, strict=True):
            pki.install_host_tree(pki.host_credentials_dir(self.base_dir, host.name), paths)
        pki.write_hosts_files(plan.hosts, host_paths)

    # -- agents -----------------------------------------------------------------------------

    def start_agents(self, port: int = DEFAULT_AGENT_PORT) -> LabStatus:
        """Starts a Miglane agent on each host that has none running; waits until each one
        accepts connections on `<mgmt addr>:port`."""
        require_root()
        with self._locked():
            state = self._require_state()
            self._start_agents(self._plan(state), state, port)
        return self.status()

    def _start_agents(self, plan: LabPlan, state: LabState, port: int) -> None:
        starting = {}
        for host in plan.hosts:
            paths = self.paths.host(host.name)
            record = state.host(host.name)
            if agents.is_agent(record.agent_pid, paths) and record.agent_port == port:
                continue
            if agents.is_agent(record.agent_pid, paths):
                stop_processes([record.agent_pid or 0])
            credentials = agents.agent_credentials(self.paths.base, host)
            process = agents.start(host, paths, port, libvirtd.local_uri(paths), credentials)
            self._children.append(process)
            record.agent_pid, record.agent_port = process.pid, port
            starting[host.name] = (host, paths, process)
        save_state(self.paths.state_file, state)
        agents.wait_listening(starting, port)

    def stop_agents(self) -> None:
        require_root()
        with self._locked():
            state = self._require_state()
            pids = []
            for record in state.hosts:
                if agents.is_agent(record.agent_pid, self.paths.host(record.name)):
                    pids.append(record.agent_pid or 0)
                record.agent_pid = record.agent_port = None
            stop_processes(pids)
            save_state(self.paths.state_file, state)
            self._reap_children()

    # -- status -----------------------------------------------------------------------------

    def status(self) -> LabStatus:
        """The lab as it runs now (links are read only when running as root)."""
        return read_status(self.paths, self.slot)

    # -- links ------------------------------------------------------------------------------

    def set_link(self, host: str, network: Network | str, up: bool) -> None:
        """Plugs (`up`) or cuts the host's link on a network; the host sees carrier come or go."""
        require_root()
        plan = self._plan(self._require_state())
        nets.set_port(self._host_plan(plan, host), _network(network), up)

    def set_rate(self, network: Network | str, mbit: int | None) -> None:
        """Caps every host's link on a network at `mbit` Mbit/s (None: no cap)."""
        require_root()
        with self._locked():
            state = self._require_state()
            which = _network(network)
            for host in self._plan(state).hosts:
                nets.set_rate(host, which, mbit)
            if which is Network.MGMT:
                state.mgmt_mbit = mbit
            else:
                state.mig_mbit = mbit
            save_state(self.paths.state_file, state)

    def nic_counters(self, host: str, nic: Network | str) -> NicCounters:
        """(rx_bytes, tx_bytes) of the host's `mgmt0` or `mig0`, read inside its namespace."""
        require_root()
        plan = self._plan(self._require_state())
        return nets.nic_counters(self._host_plan(plan, host), _network(nic))

    def run_in_host(
        self, host: str, argv: Sequence[str], **popen_kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Starts `argv` inside the host's network namespace, seeing what the host's own
        programs see: a /sys showing its NICs, its /etc/pki (certificates) and /etc/hosts. The
        Popen's pid is the program's own. Extra keyword arguments go to Popen."""
        require_root()
        plan = self._plan(self._require_state())
        host_plan = self._host_plan(plan, host)
        binds = self.paths.host(host_plan.name).identity_binds()
        command = nets.in_host_argv(host_plan, argv, sysfs=True, binds=binds)
        return subprocess.Popen(command, **popen_kwargs)

    # -- guests -----------------------------------------------------------------------------

    def create_vm(
        self,
        host: str,
        name: str,
        memory_mib: int = 128,
        dirty_mib: int = 0,
        *,
        guest_os: GuestOs | str = GuestOs.TINY,
        disks: Sequence[DiskSpec | str] = (),
        nics: Sequence[str] = (),
        persistent: bool = False,
        virt_type: str = "qemu",
        wait: bool = True,
        timeout: float | None = None,
    ) -> VmInfo:
        """Starts a guest on `host`: the tiny one fills its memory, Linux writes its pattern to
        its disks (`shared:SIZE` on the lab's NBD storage, `local:SIZE` the host's own); both
        then keep dirtying `dirty_mib` MiB. `nics`: networks of `add_vm_network`. With `wait`,
        returns once the guest is ready (`GuestSpec.ready_phase`)."""
        require_root()
        spec = guests.guest_spec(
            name,
            memory_mib,
            dirty_mib,
            guest_os,
            disks,
            nics,
            persistent=persistent,
            virt_type=virt_type,
        )
        state = self._require_state()
        paths = self._host_paths(state, host)
        plan = self._plan(state)
        attached = guests.plan_guest_disks(name, spec)
        where = guests.Storage.of(self.paths, plan.root_mgmt_addr, paths)
        with self._locked():
            kernel, started = guests.prepare(self.paths, state, spec, attached, where)
        self._children += started
        xml = guests.render_guest_xml(name, spec, kernel, attached, plan.root_mgmt_addr)
        vm = guests.start_guest(host, paths, name, xml, persistent=spec.persistent)
        if wait:
            wait_for = timeout if timeout is not None else guests.ready_timeout(spec)
            guests.wait_for_phase(host, paths, name, spec.ready_phase(), wait_for)
        return vm

    def disk_image(self, host: str, name: str, target: str = "vda") -> Path:
        """The file behind the guest's disk `target` (`vda`, `vdb` ...), as this machine sees
        it: the storage daemon's image for a shared disk, else `host`'s local image."""
        state = self._require_state()
        paths = self._host_paths(state, host)
        where = guests.Storage.of(self.paths, self._plan(state).root_mgmt_addr, paths)
        return guests.disk_image(where, name, target)

    def add_vm_network(self, network: str, hosts: Sequence[str]) -> None:
        """A bridge named `network` on each of `hosts` (only there), for guests' vNICs."""
        require_root()
        with self._locked():
            state = self._require_state()
            plan = self._plan(state)
            vmnets.record(plan, state, {network: hosts})
            save_state(self.paths.state_file, state)
            vmnets.ensure_bridges(plan, state)

    def wait_guest(
        self,
        host: str,
        name: str,
        phase: GuestPhase | LinuxPhase = GuestPhase.FILLED,
        timeout: float = 30,
    ) -> None:
        """Waits until the guest running on `host` has announced `phase` on its console."""
        guests.wait_for_phase(host, self.paths.host(host), name, phase, timeout)

    def guest_console(self, host: str, name: str) -> str:
        """What the guest wrote to its serial port while running on `host`."""
        return guests.console(self.paths.host(host), name)

    def destroy_vm(self, host: str, name: str) -> None:
        """Stops the guest on `host` and forgets it there (undefines a persistent one)."""
        require_root()
        state = self._require_state()
        paths = self._host_paths(state, host)
        guests.destroy_guest(host, paths, name)
        where = guests.Storage.of(self.paths, self._plan(state).root_mgmt_addr, paths)
        guests.remove_disks(name, where)

    def list_vms(self, host: str | None = None) -> list[VmInfo]:
        """Guests on `host`, or on every host."""
        require_root()
        state = self._require_state()
        names = [host] if host else [record.name for record in state.hosts]
        return [
            vm for name in names for vm in guests.list_guests(name, self._host_paths(state, name))
        ]

    # -- taking it down ---------------------------------------------------------------------

    def down(self, *, purge: bool = False) -> None:
        """Stops every process the lab started (agents, daemons, QEMU, anything else in its
        namespaces), removes namespaces, links, bridges and host state. Works on a lab that
        crashed half-way. `purge` also removes the cache (guest kernel, QEMU capabilities)."""
        require_root()
        existed = self.base_dir.exists()
        with self._locked():
            tear_down(self.paths, self.slot)
            self._reap_children()
        if purge or not existed:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _reap_children(self) -> None:
        self._children = [child for child in self._children if child.poll() is None]

    # -- helpers ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One `up`/`down` at a time per lab, across processes."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with self.paths.lock_file.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _require_state(self) -> LabState:
        state = load_state(self.paths.state_file)
        if state is None or not state.hosts:
            raise LabError(f"no lab is up in {self.base_dir}: run `miglane lab up` first")
        return state

    def _plan(self, state: LabState) -> LabPlan:
        return plan_lab(state.slot, len(state.hosts))

    def _host_paths(self, state: LabState, host: str) -> HostPaths:
        return self.paths.host(self._host_plan(self._plan(state), host).name)

    @staticmethod
    def _host_plan(plan: LabPlan, host: str) -> HostPlan:
        try:
            return plan.host(host)
        except KeyError as exc:
            raise LabError(str(exc.args[0])) from exc


def _network(value: Network | str) -> Network:
    if isinstance(value, Network):
        return value
    try:
        return Network.parse(value)
    except ValueError as exc:
        raise LabError(str(exc)) from exc


def _has_tool(name: str) -> bool:
    try:
        tool(name)
    except LabError:
        return False
    return True
