"""Each queued or running migration's prediction (`domain.prediction`) on its record: when it
should finish and whether it converges.

- Queued: as if admitted now, from the VM's memory and local disks, its dirty rate when known,
  and the bandwidth it would get (`domain.bandwidth`: the cap the policy or the override gives
  it, sharing the source's link with the migrations already leaving it; without a cap, the
  link's budget, which QEMU would fill); one an evacuation plan placed finishes at the plan's
  finish (`at_planned_finish`).
- Running: from the remaining data, the measured dirty rate and the measured throughput (the
  cap in force until QEMU measured one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from miglane.engine.domain.bandwidth import LinkShare, bandwidth_cap, link_budget
from miglane.engine.domain.migration_path import (
    ClusterNetworks,
    MigrationPath,
    attachment_on,
    choose_migration_uri,
)
from miglane.engine.domain.model import (
    ConvergencePolicy,
    ConvergenceVerdict,
    FallbackReason,
    Help,
    HostView,
    Migration,
    MigrationPolicy,
    Vm,
)
from miglane.engine.domain.prediction import (
    DEFAULT_FIXED_S,
    MigrationLoad,
    Prediction,
    expected_throughput_bps,
    predict,
)
from miglane.engine.domain.priority import priority_weight
from miglane.engine.domain.vm_devices import copies_local_disks

# A queued migration's predicted finish slides with the clock while it waits: rewrite the
# record only when it moved more than this (or the verdict changed).
FINISH_DRIFT_S = 5.0


def _helps(policy: MigrationPolicy) -> dict[str, bool]:
    return {
        "auto_converge": policy.auto_converge,
        "post_copy": policy.convergence is ConvergencePolicy.POST_COPY,
    }


def source_path(source: HostView, networks: ClusterNetworks) -> MigrationPath:
    """The path of a migration leaving `source` whose destination is not chosen yet: the
    source's end of the migration network."""
    network_id = networks.migration.id if networks.migration is not None else ""
    return MigrationPath(
        network_id=network_id,
        migration_uri="",
        fallback_reason=FallbackReason.NONE,
        source_attachment=attachment_on(source, network_id),
    )


def _queued_path(
    migration: Migration, source: HostView, hosts: Mapping[str, HostView], networks: ClusterNetworks
) -> MigrationPath:
    destination = hosts.get(migration.destination_host_id)
    if destination is not None:
        return choose_migration_uri(networks, source, destination)
    return source_path(source, networks)


def share_mibps(
    path: MigrationPath,
    vm: Vm | None,
    networks: ClusterNetworks,
    sharing: int | LinkShare,
    override_mibps: int | None = None,
) -> float:
    """The MiB/s a migration of `vm` over `path` gets, `sharing` migrations (itself included)
    sharing its busier end's link: its cap, or without one the link's budget shared, which
    QEMU would fill."""
    budget = link_budget(path, networks)
    cap = bandwidth_cap(
        networks.cluster.policy,
        budget,
        sharing,
        override_mibps,
        copies_local_disks(vm, networks.cluster),
    )
    if cap.mibps > 0:
        return float(cap.mibps)
    if isinstance(sharing, LinkShare):
        return sharing.part(budget.mibps)
    return budget.mibps / max(sharing, 1)


def queued_bandwidth_mibps(
    migration: Migration,
    vm: Vm | None,
    hosts: Mapping[str, HostView],
    networks: ClusterNetworks,
    leaving_source: int,
    leaving_weight: int | None = None,
) -> float:
    """The MiB/s a queued migration would get if admitted now, `leaving_source` migrations
    of priority weights adding up to `leaving_weight` (None: its own priority's, each)
    already leaving its source."""
    source = hosts.get(migration.source_host_id)
    if source is None:
        return 0.0
    path = _queued_path(migration, source, hosts, networks)
    weight = priority_weight(migration.priority)
    others = leaving_source * weight if leaving_weight is None else leaving_weight
    share = LinkShare(leaving_source + 1, weight, others + weight, migration.priority)
    return share_mibps(path, vm, networks, share, migration.bandwidth_override_mibps)


def with_prediction(migration: Migration, prediction: Prediction, now: datetime) -> Migration:
    """`migration` carrying `prediction`: its verdict, sentence and predicted finish."""
    finish = now + timedelta(seconds=prediction.duration_s) if prediction.finishes else None
    return replace(
        migration,
        predicted_finish_at=finish,
        verdict=prediction.verdict,
        verdict_reason=prediction.reason,
        working_set_bytes=prediction.working_set_bytes or 0,
    )


def queued_load(vm: Vm | None, policy: MigrationPolicy) -> MigrationLoad:
    """What a queued migration of `vm` must move: its memory, its local disks when the policy
    copies them, and the dirty rate and working set its agent last measured (0 before the first
    measurement; a working set of 0 is not known: each round may resend all memory)."""
    if vm is None:
        return MigrationLoad(memory_bytes=0)
    measured = vm.dirty_rate
    return MigrationLoad(
        memory_bytes=vm.memory_mib * (1 << 20),
        dirty_rate_bps=measured.bytes_per_second if measured is not None else 0,
        local_disk_bytes=(
            sum(d.size_bytes for d in vm.local_disks) if policy.local_disk_migration else 0
        ),
        working_set_bytes=(measured.working_set_bytes or None) if measured is not None else None,
    )


def queued_prediction(
    vm: Vm | None,
    policy: MigrationPolicy,
    bandwidth_mibps: float,
    link_share_mibps: float | None = None,
    *,
    fixed_s: float = DEFAULT_FIXED_S,
) -> Prediction:
    """A queued migration's prediction at `bandwidth_mibps`, with the helps its policy allows;
    `link_share_mibps`: its share of its link's capacity (`expected_throughput_bps`);
    `fixed_s`: the wall time before its data moves (`ClusterNetworks.path_fixed_s`)."""
    load = queued_load(vm, policy)
    return predict(
        load,
        expected_throughput_bps(bandwidth_mibps, link_share_mibps),
        fixed_s=fixed_s,
        **_helps(policy),
    )


def started_prediction(
    vm: Vm | None,
    policy: MigrationPolicy,
    help_: Help,
    cap_mibps: float,
    link_share_mibps: float,
    *,
    fixed_s: float = DEFAULT_FIXED_S,
) -> Prediction:
    """The prediction of a migration admitted with `help_`, at the cap it gets once every
    migration sharing its link is counted (0: none) and `link_share_mibps`, its share of the
    link's capacity (`bandwidth.link_capacity_shares`); `fixed_s` as `queued_prediction`'s."""
    bandwidth_bps = expected_throughput_bps(cap_mibps, link_share_mibps)
    return predict(
        queued_load(vm, policy),
        bandwidth_bps,
        auto_converge=help_ is Help.AUTO_CONVERGE,
        post_copy=help_ is Help.POST_COPY,
        fixed_s=fixed_s,
    )


# The largest cap `needed_bandwidth_mibps` looks at (100 Gbit/s): a guest that dirties
# faster converges at no cap a link gives.
MAX_NEEDED_MIBPS = 12_500


def needed_bandwidth_mibps(load: MigrationLoad) -> int | None:
    """The smallest cap, in MiB/s, at which plain pre-copy of `load` converges (None: none up
    to `MAX_NEEDED_MIBPS`). More bandwidth never slows convergence, so it is bisected."""

    def converges(mibps: int) -> bool:
        # The larger share it is sized for is taken from the others on its link: the caps
        # there add up to the link, which carries less than they ask.
        verdict = predict(load, expected_throughput_bps(mibps, mibps)).verdict
        return verdict is ConvergenceVerdict.CONVERGES

    if not converges(MAX_NEEDED_MIBPS):
        return None
    low, high = 0, MAX_NEEDED_MIBPS  # low never converges, high does
    while high - low > 1:
        middle = (low + high) // 2
        if converges(middle):
            high = middle
        else:
            low = middle
    return high


def forecast_queued(
    migration: Migration,
    vm: Vm | None,
    policy: MigrationPolicy,
    bandwidth_mibps: float,
    now: datetime,
    *,
    fixed_s: float = DEFAULT_FIXED_S,
) -> Migration:
    """`migration` (queued) with its prediction, from the VM's memory, local disks and the dirty
    rate its agent last measured (0 before the first measurement); `fixed_s` as
    `queued_prediction`'s."""
    prediction = queued_prediction(vm, policy, bandwidth_mibps, fixed_s=fixed_s)
    return with_prediction(migration, prediction, now)


def running_load(migration: Migration) -> MigrationLoad:
    """What a running migration has left to move, from its latest sample: the data remaining
    (its local disks' part apart), QEMU's dirty rate, and the working set its VM's agent
    measured before it started (`Migration.working_set_bytes`)."""
    disk_left = migration.disk_remaining_bytes
    return MigrationLoad(
        memory_bytes=max(migration.data_remaining_bytes - disk_left, 0),
        dirty_rate_bps=float(migration.dirty_rate_bps),
        local_disk_bytes=disk_left,
        working_set_bytes=migration.working_set_bytes or None,
    )


def forecast_running(migration: Migration, now: datetime) -> Migration:
    """`migration` (running, just sampled) with its prediction refined from the sample."""
    bandwidth = float(migration.throughput_bps) or expected_throughput_bps(
        migration.max_bandwidth_mibps
    )
    load = running_load(migration)
    # A running record does not carry its policy: count only the help already under way.
    prediction = predict(load, bandwidth, post_copy=migration.post_copy, already_started=True)
    return with_prediction(migration, prediction, now)


def forecast_rebalanced(
    migration: Migration, cap_mibps: int, link_share_mibps: float, now: datetime
) -> Migration:
    """`migration` (running) with its prediction at the cap it was just given as its link's
    sharing changed, `link_share_mibps` its share of the link's capacity: the throughput QEMU
    measured was at the old cap, so the model's throughput at the new one stands in until the
    next sample (before the first sample there is no remaining data to go by)."""
    if migration.data_remaining_bytes <= 0:
        return migration
    bandwidth = expected_throughput_bps(cap_mibps, link_share_mibps)
    prediction = predict(
        running_load(migration), bandwidth, post_copy=migration.post_copy, already_started=True
    )
    return with_prediction(migration, prediction, now)


def at_planned_finish(forecast: Migration) -> Migration:
    """A queued migration's `forecast` finishing when its evacuation plan has it finish: the
    plan's timeline (`evacuation_schedule`) counts its wait behind the migrations ahead of it,
    which a forecast as if admitted now does not. Admission predicts it afresh over the same
    timeline when it starts (`timeline_forecast`)."""
    if forecast.planned_finish_at is None or forecast.predicted_finish_at is None:
        return forecast
    return replace(forecast, predicted_finish_at=forecast.planned_finish_at)


def moved_enough(before: Migration, after: Migration) -> bool:
    """Whether a queued migration's new prediction is worth writing: one finishing at its
    plan's finish is written whenever that moved (the plan's marks move little)."""
    if (before.verdict, before.verdict_reason) != (after.verdict, after.verdict_reason):
        return True
    if after.planned_finish_at is not None and after.predicted_finish_at == after.planned_finish_at:
        return before.predicted_finish_at != after.predicted_finish_at
    if (before.predicted_finish_at is None) != (after.predicted_finish_at is None):
        return True
    if before.predicted_finish_at is None or after.predicted_finish_at is None:
        return False
    drift = abs((after.predicted_finish_at - before.predicted_finish_at).total_seconds())
    return drift > FINISH_DRIFT_S


def cleared(migration: Migration) -> Migration:
    """A migration that is over carries no prediction."""
    return replace(
        migration,
        predicted_finish_at=None,
        verdict=ConvergenceVerdict.UNSPECIFIED,
        verdict_reason="",
    )
