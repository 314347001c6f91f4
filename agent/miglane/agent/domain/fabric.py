"""Max-min fair sharing of links among concurrent flows (progressive filling).

A flow crosses a few links (a migration: the source NIC's egress and the destination NIC's
ingress) and has a cap of its own. Every unfrozen flow's rate rises together; a flow freezes
when it reaches its cap or when one of its links fills up, and the others keep rising. The result
gives each flow min(its cap, its fair share at its most constrained link), with what a capped or
elsewhere-constrained flow leaves over going to the rest.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

FlowKey = TypeVar("FlowKey", bound=Hashable)
LinkKey = TypeVar("LinkKey", bound=Hashable)


@dataclass(frozen=True)
class Flow(Generic[LinkKey]):
    """What one flow may use: at most `cap` bytes/s, over `links` (ids into the capacities;
    a link with no capacity given is unconstrained)."""

    cap: float
    links: tuple[LinkKey, ...] = ()


def fair_rates(
    flows: Mapping[FlowKey, Flow[LinkKey]], capacities: Mapping[LinkKey, float]
) -> dict[FlowKey, float]:
    """Each flow's rate in bytes/s; no link carries more than its capacity."""
    rates = {key: 0.0 for key in flows}
    active = {key for key, flow in flows.items() if flow.cap > 0}
    left = dict(capacities)
    while active:
        users: dict[LinkKey, int] = {}
        for key in active:
            for link in flows[key].links:
                if link in left:
                    users[link] = users.get(link, 0) + 1
        # The smallest equal raise that caps a flow or fills a link.
        step = min(flows[key].cap - rates[key] for key in active)
        for link, count in users.items():
            step = min(step, left[link] / count)
        step = max(step, 0.0)
        for key in active:
            rates[key] += step
        for link, count in users.items():
            left[link] -= step * count
        full = {link for link in users if left[link] <= 1e-9 * max(capacities[link], 1.0)}
        active = {
            key
            for key in active
            if rates[key] < flows[key].cap and not full.intersection(flows[key].links)
        }
    return rates
