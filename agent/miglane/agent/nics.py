"""The host's NICs as the engine needs them: addresses from netlink (pyroute2, which gives the
prefix length of every family), link flags, speed and counters from psutil. No `ip` parsing."""

from __future__ import annotations

import ipaddress
import socket
from collections import defaultdict

import psutil

from miglane.agent.domain.model import Nic

_AF_LINK = getattr(psutil, "AF_LINK", 17)


def _addresses_by_nic() -> dict[str, list[str]]:
    from pyroute2 import IPRoute  # netlink; imported late, it is slow to import

    by_index: dict[int, list[str]] = defaultdict(list)
    names: dict[int, str] = {}
    with IPRoute() as ipr:
        for link in ipr.get_links():
            names[link["index"]] = link.get("IFLA_IFNAME")
        for a in ipr.get_addr():
            address = a.get("IFA_ADDRESS")
            if a["family"] == socket.AF_INET:
                address = a.get("IFA_LOCAL") or address
            if not address:
                continue
            ip = ipaddress.ip_address(address)
            if ip.version == 6 and ip.is_link_local:
                continue  # no migration can use them
            by_index[a["index"]].append(f"{address}/{a['prefixlen']}")
    return {names[i]: cidrs for i, cidrs in by_index.items() if i in names}


def host_nics(include_loopback: bool = False) -> list[Nic]:
    """Every NIC of the network namespace the agent runs in."""
    cidrs = _addresses_by_nic()
    stats = psutil.net_if_stats()
    counters = psutil.net_io_counters(pernic=True)
    macs = {
        name: a.address
        for name, addrs in psutil.net_if_addrs().items()
        for a in addrs
        if a.family == _AF_LINK
    }
    nics = []
    for name, st in sorted(stats.items()):
        flags = set(st.flags.split(",")) if st.flags else set()
        if "loopback" in flags and not include_loopback:
            continue
        io = counters.get(name)
        nics.append(
            Nic(
                name=name,
                mac=macs.get(name, ""),
                addresses=tuple(cidrs.get(name, ())),
                # "up" is the administrative state; "running" also needs the carrier
                link_up=st.isup and "running" in flags,
                speed_mbps=max(0, st.speed),
                mtu=st.mtu,
                rx_bytes=io.bytes_recv if io else 0,
                tx_bytes=io.bytes_sent if io else 0,
            )
        )
    return nics


def tx_bytes_by_nic() -> dict[str, int]:
    """Bytes each NIC of the agent's network namespace has sent (its kernel counter, the one
    /sys/class/net/NIC/statistics/tx_bytes shows). Read from /proc/net/dev, which always shows
    the namespace of the reading process, whereas a /sys shows the namespace of whoever mounted
    it (an agent started by `ip netns exec`-like tools without remounting /sys would read the
    wrong host's NICs). Raises OSError when unreadable."""
    return {name: io.bytes_sent for name, io in psutil.net_io_counters(pernic=True).items()}
