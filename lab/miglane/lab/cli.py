"""`miglane lab`: real hypervisor hosts with separate management and migration networks."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lab import Lab
    from .status import LabStatus

SLOT_ENV = "MIGLANE_LAB_SLOT"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--base-dir",
        help="where the lab keeps its state (default: $MIGLANE_LAB_DIR or /var/lib/miglane-lab)",
    )
    common.add_argument(
        "--slot",
        type=int,
        default=int(os.environ.get(SLOT_ENV, "0")),
        help="run several labs side by side: slot N uses names mgl{N}-* and subnets "
        "10.231.{2N+1}.0/24, 10.231.{2N+2}.0/24 (default: $MIGLANE_LAB_SLOT or 0)",
    )

    lab = sub.add_parser(
        "lab",
        help="hypervisor hosts on this machine, for trying and testing Miglane",
        description="Hypervisor hosts on this machine: each with its own network namespace, "
        "libvirtd, and NICs on separate management and migration networks. Needs root.",
    )
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, metavar="COMMAND")

    _register_up(lab_sub, common)
    down = lab_sub.add_parser("down", parents=[common], help="stop and remove everything")
    down.add_argument(
        "--purge", action="store_true", help="also remove the cache (guest kernels, QEMU probe)"
    )
    down.set_defaults(handler=_down)

    status = lab_sub.add_parser("status", parents=[common], help="show hosts, URIs and links")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_status)

    link = lab_sub.add_parser("link", parents=[common], help="cut or restore a host's link")
    link.add_argument("host", help="host name, e.g. host2")
    link.add_argument("network", choices=["mgmt", "mig"])
    link.add_argument("state", choices=["up", "down"])
    link.set_defaults(handler=_link)

    _register_vm(lab_sub, common)


def _register_up(
    lab_sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    up = lab_sub.add_parser("up", parents=[common], help="create the hosts (idempotent)")
    up.add_argument("--hosts", type=int, default=3, help="number of hosts, at least 2 (default 3)")
    up.add_argument("--mgmt-mbit", type=int, help="cap each management link (Mbit/s)")
    up.add_argument("--mig-mbit", type=int, help="cap each migration link (Mbit/s)")
    up.add_argument("--agents", action="store_true", help="start a Miglane agent on each host")
    up.add_argument("--agent-port", type=int, default=50061, help="agents' port (default 50061)")
    up.add_argument(
        "--no-install", action="store_true", help="do not install missing Debian packages"
    )
    up.add_argument(
        "--vm-network",
        action="append",
        default=[],
        metavar="NAME=HOST,HOST",
        help="a bridge NAME for guests' vNICs on these hosts only (repeatable)",
    )
    up.add_argument("--json", action="store_true", help="print the status as JSON")
    up.set_defaults(handler=_up)


def _register_vm(
    lab_sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    vm = lab_sub.add_parser("vm", help="guests on the lab hosts")
    vm_sub = vm.add_subparsers(dest="vm_command", required=True, metavar="COMMAND")
    create = vm_sub.add_parser("create", parents=[common], help="start a guest on a host")
    create.add_argument("host", help="host name, e.g. host1")
    create.add_argument("--name", required=True, help="guest name")
    create.add_argument("--memory", type=int, default=128, help="guest memory, MiB (default 128)")
    create.add_argument(
        "--dirty", type=int, default=0, help="MiB the guest keeps rewriting (default 0: none)"
    )
    create.add_argument(
        "--os",
        choices=["tiny", "linux"],
        default="tiny",
        help="tiny: the lab kernel filling its RAM; linux: Debian's kernel writing a pattern "
        "to its disks (default tiny)",
    )
    create.add_argument(
        "--disk",
        action="append",
        default=[],
        metavar="KIND:SIZE",
        help="shared:SIZE (NBD on the lab's storage) or local:SIZE (the host's own), e.g. "
        "shared:64M (repeatable)",
    )
    create.add_argument(
        "--nic",
        action="append",
        default=[],
        metavar="NETWORK",
        help="a vNIC on the host's bridge NETWORK (see `lab up --vm-network`; repeatable)",
    )
    create.add_argument("--persistent", action="store_true", help="define it, not transient")
    create.add_argument(
        "--virt-type", choices=["qemu", "kvm"], default="qemu", help="default qemu (TCG)"
    )
    create.add_argument(
        "--no-wait", action="store_true", help="return before the guest filled its memory"
    )
    create.set_defaults(handler=_vm_create)
    vm_list = vm_sub.add_parser("list", parents=[common], help="list guests on all hosts")
    vm_list.add_argument("--host", help="only this host")
    vm_list.add_argument("--json", action="store_true", help="print JSON")
    vm_list.set_defaults(handler=_vm_list)
    bridge = lab_sub.add_parser(
        "bridge", parents=[common], help="a network for guests' vNICs on some hosts"
    )
    bridge.add_argument("network", help="bridge name, e.g. prod-vlan")
    bridge.add_argument("--hosts", required=True, help="hosts that get it, e.g. host1,host3")
    bridge.set_defaults(handler=_bridge)

    destroy = vm_sub.add_parser("destroy", parents=[common], help="stop and remove a guest")
    destroy.add_argument("host")
    destroy.add_argument("name")
    destroy.set_defaults(handler=_vm_destroy)


def _handle(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Lab errors become one line on stderr and exit status 1, not a traceback."""

    def handler(args: argparse.Namespace) -> int:
        from .errors import LabError

        try:
            return action(args)
        except LabError as exc:
            print(f"miglane lab: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("miglane lab: interrupted", file=sys.stderr)
            return 130

    handler.__name__ = action.__name__
    return handler


def _lab(args: argparse.Namespace) -> Lab:
    from .lab import Lab

    return Lab(args.base_dir, slot=args.slot)


@_handle
def _up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    vm_networks = dict(_vm_network(text) for text in args.vm_network)
    status = _lab(args).up(
        args.hosts,
        mgmt_mbit=args.mgmt_mbit,
        mig_mbit=args.mig_mbit,
        agents=args.agents,
        agent_port=args.agent_port,
        install=not args.no_install,
        vm_networks=vm_networks,
    )
    if args.json:
        print(json.dumps(status.to_dict(), indent=2))
    else:
        print(format_status(status))
        print(f"lab up in {time.monotonic() - started:.1f} s")
    return 0


@_handle
def _down(args: argparse.Namespace) -> int:
    lab = _lab(args)
    lab.down(purge=args.purge)
    print(f"lab in {lab.base_dir} is down")
    return 0


@_handle
def _status(args: argparse.Namespace) -> int:
    status = _lab(args).status()
    print(json.dumps(status.to_dict(), indent=2) if args.json else format_status(status))
    return 0 if status.state != "degraded" else 3


@_handle
def _link(args: argparse.Namespace) -> int:
    _lab(args).set_link(args.host, args.network, args.state == "up")
    print(f"{args.host} {args.network} link {args.state}")
    return 0


@_handle
def _vm_create(args: argparse.Namespace) -> int:
    started = time.monotonic()
    _lab(args).create_vm(
        args.host,
        args.name,
        args.memory,
        args.dirty,
        guest_os=args.os,
        disks=args.disk,
        nics=args.nic,
        persistent=args.persistent,
        virt_type=args.virt_type,
        wait=not args.no_wait,
    )
    print(f"{args.name} running on {args.host} ({time.monotonic() - started:.2f} s)")
    return 0


def _vm_network(text: str) -> tuple[str, list[str]]:
    """`NAME=host1,host2` of `--vm-network`."""
    from .errors import LabError

    name, _, hosts = text.partition("=")
    if not name or not hosts:
        raise LabError(f"--vm-network {text!r}: expected NAME=HOST,HOST")
    return name, _host_list(hosts)


def _host_list(text: str) -> list[str]:
    return [host.strip() for host in text.split(",") if host.strip()]


@_handle
def _bridge(args: argparse.Namespace) -> int:
    hosts = _host_list(args.hosts)
    _lab(args).add_vm_network(args.network, hosts)
    print(f"bridge {args.network} on {', '.join(hosts)}")
    return 0


@_handle
def _vm_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    vms = _lab(args).list_vms(args.host)
    if args.json:
        print(json.dumps([asdict(vm) for vm in vms], indent=2))
    else:
        for vm in vms:
            print(f"{vm.host:<8} {vm.name:<24} {vm.state}")
    return 0


@_handle
def _vm_destroy(args: argparse.Namespace) -> int:
    _lab(args).destroy_vm(args.host, args.name)
    print(f"{args.name} destroyed on {args.host}")
    return 0


def format_status(status: LabStatus) -> str:
    if status.state == "down":
        return f"no lab in {status.base_dir} (slot {status.slot}): run `miglane lab up`"
    lines = [
        f"lab {status.base_dir} (slot {status.slot}): {status.state}, {len(status.hosts)} hosts",
        f"  management {status.mgmt_subnet} on {status.mgmt_bridge} "
        f"(this machine: {status.root_mgmt_addr}){_rate(status.mgmt_mbit)}",
        f"  migration  {status.mig_subnet} on {status.mig_bridge} "
        f"(not reachable from this machine){_rate(status.mig_mbit)}",
    ]
    for host in status.hosts:
        daemon = f"libvirtd pid {host.daemon_pid}" if host.daemon_running else "libvirtd DOWN"
        lines.append(f"{host.name}  netns {host.netns}  {daemon}")
        for link in host.links:
            rate = f"  {link.rate_mbit} Mbit/s" if link.rate_mbit else ""
            lines.append(f"  {link.nic:<6} {link.addr:<15} {'up' if link.up else 'DOWN'}{rate}")
        lines.append(f"  libvirt {host.libvirt_uri}")
        lines.append(f"  peers   {host.peer_uri}")
        lines.append(f"  migrate {host.migration_uri}")
        if host.agent_addr:
            lines.append(f"  agent   {host.agent_addr} (pid {host.agent_pid})")
    return "\n".join(lines)


def _rate(mbit: int | None) -> str:
    return f", capped at {mbit} Mbit/s" if mbit else ""
