"""The lab's networks: two bridges in the root namespace, one namespace per host, veth links.

    root namespace                         host namespace (mgl-hN)
    mgl-mgmt (10.231.1.1/24) -- mgl-hN-mgmt == mgmt0 (10.231.1.1N/24)
    mgl-mig  (no address)    -- mgl-hN-mig  == mig0  (10.231.2.1N/24)

The root namespace has an address on the management bridge only: like the engine, it cannot
reach the migration network (an `unreachable` route for its subnet keeps packets for it from
leaving by the default route). Hosts have no default route: they reach each other and nothing
else. A link is cut at the bridge port (the root-namespace end), which the host sees as lost
carrier; shaping is a token bucket on both ends of a host's link.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .commands import run
from .errors import LabError
from .plan import HostPlan, LabPlan, Network

NETNS_DIR = Path("/run/netns")
_ALIAS_PREFIX = "miglane-lab:"
# Host namespaces: no IPv6 (no router solicitations or MLD on the byte counters), and routes
# over a link without carrier are ignored, so a cut link fails fast ("Network is unreachable")
# instead of waiting for ARP to time out.
_HOST_SYSCTLS = (
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
    "net.ipv4.conf.all.ignore_routes_with_linkdown=1",
    "net.ipv4.conf.default.ignore_routes_with_linkdown=1",
)


class NicCounters(NamedTuple):
    rx_bytes: int
    tx_bytes: int


@dataclass(frozen=True)
class LinkState:
    """One host's link on one network, as seen from both ends."""

    network: str
    nic: str
    port: str
    addr: str
    up: bool  # cable plugged (port up) and the NIC has carrier
    port_up: bool
    nic_state: str
    rate_mbit: int | None


def _ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    argv = ["ip", "-j"] + (["-n", netns] if netns else []) + list(args)
    result = run(argv, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        return []
    parsed: list[dict[str, Any]] = json.loads(result.stdout)
    return parsed


def links(netns: str | None = None) -> dict[str, dict[str, Any]]:
    """Interfaces by name, in the root namespace or in `netns`."""
    return {link["ifname"]: link for link in _ip_json("link", "show", netns=netns)}


def list_netns() -> list[str]:
    try:
        return sorted(entry.name for entry in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


NSEXEC = Path(__file__).with_name("nsexec.py")


def in_host_argv(
    host: HostPlan,
    program: Sequence[str],
    *,
    sysfs: bool = False,
    binds: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """`program` run by nsexec in the host's network namespace; with `sysfs` and `binds`, in
    a mount namespace of its own where /sys shows the host's NICs and each SRC covers DST."""
    argv = [sys.executable, "-I", "-S", str(NSEXEC), "--netns", str(netns_path(host.netns))]
    if sysfs:
        argv.append("--sysfs")
    for src, dst in binds:
        argv += ["--bind", src, dst]
    return [*argv, "--", *program]


def _disable_ipv6(device: str) -> None:
    """IPv6 off on a root-namespace device: no link-local address on the bridges or ports."""
    knob = Path(f"/proc/sys/net/ipv6/conf/{device}/disable_ipv6")
    if knob.exists():
        knob.write_text("1\n")


# -- bridges -------------------------------------------------------------------------------


def bridge_owner(name: str) -> str | None:
    """Base directory of the lab that created the bridge (kept in its alias), or None."""
    link = links().get(name)
    if link is None:
        return None
    alias = link.get("ifalias", "")
    return alias[len(_ALIAS_PREFIX) :] if alias.startswith(_ALIAS_PREFIX) else "(not a lab)"


def slots_owned_by(owner: str) -> list[int]:
    """Slots whose management bridge the lab at `owner` created (found by bridge alias)."""
    slots = []
    for name, link in links().items():
        if link.get("ifalias") != _ALIAS_PREFIX + owner or not name.endswith("-mgmt"):
            continue
        prefix = name.removesuffix("-mgmt")
        if prefix == "mgl":
            slots.append(0)
        elif prefix.startswith("mgl") and prefix[3:].isdigit():
            slots.append(int(prefix[3:]))
    return sorted(slots)


def check_slot_free(plan: LabPlan, owner: str) -> None:
    """Refuses to touch bridges or subnets that belong to anything but this lab."""
    for network in Network:
        bridge = plan.bridge(network)
        current = bridge_owner(bridge)
        if current not in (None, owner):
            raise LabError(
                f"bridge {bridge} belongs to another lab ({current}): bring that one down "
                f"(miglane lab down --base-dir {current}) or use another --slot"
            )
    bridges = {plan.bridge(network) for network in Network}
    for route in _ip_json("route", "show"):
        dst, dev = route.get("dst", ""), route.get("dev", "")
        if dst == "default" or dev in bridges or _is_mig_guard(route, plan):
            continue
        try:
            routed = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        for network in Network:
            if routed.overlaps(plan.subnet(network)):
                raise LabError(
                    f"subnet {plan.subnet(network)} of lab slot {plan.slot} is already routed "
                    f"via {dev} on this machine: use another --slot"
                )


def ensure_bridge(name: str, owner: str, addr: str | None, prefixlen: int) -> None:
    if name not in links():
        run(["ip", "link", "add", name, "type", "bridge", "stp_state", "0"])
        run(["ip", "link", "set", name, "alias", _ALIAS_PREFIX + owner])
    _disable_ipv6(name)
    if addr is not None:
        run(["ip", "addr", "replace", f"{addr}/{prefixlen}", "dev", name])
    run(["ip", "link", "set", name, "up"])


def ensure_bridges(plan: LabPlan, owner: str) -> None:
    ensure_bridge(plan.bridge(Network.MGMT), owner, plan.root_mgmt_addr, plan.mgmt_subnet.prefixlen)
    ensure_bridge(plan.bridge(Network.MIG), owner, None, plan.mig_subnet.prefixlen)
    run(["ip", "route", "replace", "unreachable", str(plan.mig_subnet)])


def remove_bridges(plan: LabPlan) -> None:
    for route in _ip_json("route", "show"):
        if _is_mig_guard(route, plan):
            run(["ip", "route", "del", "unreachable", str(plan.mig_subnet)], check=False)
    for network in Network:
        delete_link(plan.bridge(network))


def _is_mig_guard(route: dict[str, Any], plan: LabPlan) -> bool:
    return route.get("type") == "unreachable" and route.get("dst") == str(plan.mig_subnet)


def delete_link(name: str) -> bool:
    return run(["ip", "link", "del", name], check=False).returncode == 0


# -- hosts ---------------------------------------------------------------------------------


def ensure_host_network(plan: LabPlan, host: HostPlan) -> None:
    """Namespace, both links and their addresses; what already exists is kept."""
    if not netns_path(host.netns).exists():
        run(["ip", "netns", "add", host.netns])
        run(["ip", "netns", "exec", host.netns, "sysctl", "-q", "-w", *_HOST_SYSCTLS])
    run(["ip", "-n", host.netns, "link", "set", "lo", "up"])
    root_links, host_links = links(), links(host.netns)
    for network in Network:
        port, nic = host.veth(network), network.nic
        if port in root_links and nic not in host_links:
            delete_link(port)  # half a link, left by a crash: start over
            del root_links[port]
        if port not in root_links:
            run(
                [
                    "ip",
                    "link",
                    "add",
                    port,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    nic,
                    "netns",
                    host.netns,
                ]
            )
        _disable_ipv6(port)
        run(["ip", "link", "set", port, "master", plan.bridge(network), "up"])
        addr = f"{host.addr(network)}/{plan.subnet(network).prefixlen}"
        run(["ip", "-n", host.netns, "addr", "replace", addr, "dev", nic])
        run(["ip", "-n", host.netns, "link", "set", nic, "up"])


def ensure_vm_bridge(host: HostPlan, name: str) -> None:
    """A bridge `name` inside the host, for guests' vNICs (it goes with the namespace)."""
    if name not in links(host.netns):
        run(["ip", "-n", host.netns, "link", "add", name, "type", "bridge", "stp_state", "0"])
    run(["ip", "-n", host.netns, "link", "set", name, "up"])


def remove_host_network(host: HostPlan) -> None:
    for network in Network:
        delete_link(host.veth(network))
    if netns_path(host.netns).exists():
        run(["ip", "netns", "del", host.netns], check=False)


def set_port(host: HostPlan, network: Network, up: bool) -> None:
    """Plugs or unplugs the host's cable on `network` at the bridge."""
    run(["ip", "link", "set", host.veth(network), "up" if up else "down"])


def _tbf(mbit: int) -> list[str]:
    rate_bytes = mbit * 1_000_000 // 8
    # Burst: 4 ms at the rate, and at least one 64 KiB GSO packet, or tbf drops those.
    burst = max(rate_bytes // 250, 128 * 1024)
    return ["tbf", "rate", f"{mbit}mbit", "burst", str(burst), "latency", "20ms"]


def set_rate(host: HostPlan, network: Network, mbit: int | None) -> None:
    """Caps the link in both directions at `mbit` (None: no cap)."""
    for tc, device in ((["tc"], host.veth(network)), (["tc", "-n", host.netns], network.nic)):
        if mbit is None:
            run([*tc, "qdisc", "del", "dev", device, "root"], check=False)
        else:
            run([*tc, "qdisc", "replace", "dev", device, "root", *_tbf(mbit)])


def _rate_mbit(netns: str | None, device: str) -> int | None:
    argv = ["tc", "-j"] + (["-n", netns] if netns else []) + ["qdisc", "show", "dev", device]
    result = run(argv, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        return None
    for qdisc in json.loads(result.stdout):
        if qdisc.get("kind") == "tbf" and qdisc.get("root", False):
            rate = qdisc.get("options", {}).get("rate")
            if isinstance(rate, int):
                return rate * 8 // 1_000_000
    return None


def link_states(host: HostPlan, root_links: dict[str, dict[str, Any]]) -> list[LinkState]:
    host_links = links(host.netns)
    states = []
    for network in Network:
        port = root_links.get(host.veth(network), {})
        nic = host_links.get(network.nic, {})
        port_up = "UP" in port.get("flags", [])
        nic_state = nic.get("operstate", "ABSENT")
        states.append(
            LinkState(
                network=network.value,
                nic=network.nic,
                port=host.veth(network),
                addr=host.addr(network),
                up=port_up and nic_state == "UP",
                port_up=port_up,
                nic_state=nic_state,
                rate_mbit=_rate_mbit(None, host.veth(network)) if port else None,
            )
        )
    return states


def nic_counters(host: HostPlan, network: Network) -> NicCounters:
    """Bytes received and sent by the host's NIC, read inside its namespace."""
    found = _ip_json("-s", "link", "show", "dev", network.nic, netns=host.netns)
    if not found:
        raise LabError(f"{host.name} has no {network.nic} (is the lab up?)")
    stats = found[0]["stats64"]
    return NicCounters(rx_bytes=stats["rx"]["bytes"], tx_bytes=stats["tx"]["bytes"])
