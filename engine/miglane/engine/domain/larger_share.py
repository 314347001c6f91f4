"""Whether a migration whose fair AUTO share of its link would not converge can be given a
larger share: enough for plain pre-copy to converge, taken from the AUTO shares of the others at
its link's ends, without making any of them never converge and within the link's budget (its
NIC, its network's QoS, or the management migration budget).

Admission (`domain.admission`) prefers it to a help: a larger share moves the guest untouched,
where auto-converge throttles its vCPUs and post-copy risks it on the network.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from miglane.engine.domain.bandwidth import MigrationFlow, bandwidth_caps
from miglane.engine.domain.model import BandwidthMode, ConvergenceVerdict, Help, MigrationPolicy
from miglane.engine.domain.prediction import MigrationLoad, expected_throughput_bps, predict


@dataclass(frozen=True)
class FlowLoad:
    """What another migration on the link must still move, and the help it runs with."""

    load: MigrationLoad
    help: Help = Help.NONE

    def converges_at(self, mibps: float) -> bool:
        if mibps <= 0:
            return True  # no cap: the link is its limit
        prediction = predict(
            self.load,
            # AUTO's caps add up to the link: it carries less than they ask.
            expected_throughput_bps(mibps, mibps),
            auto_converge=self.help is Help.AUTO_CONVERGE,
            post_copy=self.help is Help.POST_COPY,
        )
        return prediction.verdict is not ConvergenceVerdict.NEVER_CONVERGES


def _shares_an_end(flow: MigrationFlow, candidate: MigrationFlow) -> bool:
    return bool(set(flow.ends) & set(candidate.ends))


def larger_share(
    policy: MigrationPolicy,
    candidate: MigrationFlow,
    needed_mibps: int | None,
    others: Sequence[MigrationFlow],
    loads: Mapping[str, FlowLoad],
) -> int | None:
    """The MiB/s to give `candidate` (`needed_mibps`, at which it converges), or None when it
    cannot have them: the policy is not AUTO, the candidate has an override, the link's budget
    is too small, or another migration sharing an end (`loads` by migration id; one without a
    load is taken as idle) would never converge at what is left to it."""
    if needed_mibps is None or candidate.override_mibps is not None:
        return None
    if policy.bandwidth_mode not in (BandwidthMode.AUTO, BandwidthMode.UNSPECIFIED):
        return None
    neighbours = [flow for flow in others if _shares_an_end(flow, candidate)]
    budget = math.floor(candidate.budget.mibps)
    for end in candidate.ends:
        at_end = [flow for flow in neighbours if end in flow.ends]
        granted = sum(flow.granted_mibps or 0 for flow in at_end)
        splitting = sum(1 for flow in at_end if flow.granted_mibps is None)
        # Every other migration keeps at least 1 MiB/s (0 would mean no cap).
        if granted + needed_mibps + splitting > budget:
            return None
    given = replace(candidate, granted_mibps=needed_mibps)
    caps = bandwidth_caps(policy, [*neighbours, given])
    for flow in neighbours:
        if flow.override_mibps is not None or flow.granted_mibps is not None:
            continue  # its cap does not change
        load = loads.get(flow.migration_id)
        if load is not None and not load.converges_at(caps[flow.migration_id].mibps):
            return None
    return needed_mibps
