"""How many migrations may hold a slot at once: the one place that resolves the cluster policy's
limits (0 meaning the default) and weighs them against what each host's agent allows."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from miglane.engine.domain.model import (
    Host,
    MigrationPolicy,
)


@dataclass(frozen=True)
class MigrationLimits:
    outgoing_per_host: int
    incoming_per_host: int
    # 0: no cluster-wide cap.
    per_cluster: int

    @classmethod
    def of(cls, policy: MigrationPolicy) -> MigrationLimits:
        """The policy's limits, 0 meaning the defaults: 2 outgoing, 2 incoming, no cap."""
        return _limits_of(policy)

    def outgoing_for(self, host: Host) -> int:
        """The outgoing limit of `host`: the policy's, or the agent's own when it reported a
        lower one (the agent would answer busy above it)."""
        reported = host.facts.max_outgoing_migrations
        return min(self.outgoing_per_host, reported) if reported > 0 else self.outgoing_per_host


# Every placement and every admission pass asks for its cluster's limits, and resolving the
# defaults rebuilds the whole policy; a cluster's policy is one frozen value between updates.
@functools.lru_cache(maxsize=256)
def _limits_of(policy: MigrationPolicy) -> MigrationLimits:
    resolved = policy.with_defaults()
    return MigrationLimits(
        resolved.max_outgoing_per_host,
        resolved.max_incoming_per_host,
        resolved.max_concurrent_per_cluster,
    )
