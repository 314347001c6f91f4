"""The scheduler's fast pass (rows derived once per host view, one pass keeping only the
contenders, sentences only for the hosts a reason names) against a straightforward reference:
every filter evaluated plainly on every host view, every host scored, the best picked by
score, then name, then id; and the reasons as every host's assessment gives them."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

from miglane.engine.domain.limits import MigrationLimits
from miglane.engine.domain.migration_path import ClusterNetworks, choose_migration_uri, end_problem
from miglane.engine.domain.model import Attachment, HostStatus, HostView, MigrationPolicy, Vm
from miglane.engine.domain.placement import (
    HostLoad,
    PlacementContext,
    PlacementOutcome,
    RejectionKind,
    ScoreScale,
    assess_destinations,
    choose_destination,
    describe_rejections,
    describe_wait,
    destination_score,
    prepare_for_placement,
)

from .builders import CLUSTER_ID, T0, host, mgmt, mig, networks, vm

K = RejectionKind
SCENARIOS = 60
HOSTS = 300
BRIDGES = ("prod", "dmz", "backup")


def random_attachments(rng: random.Random, index: int) -> tuple[Attachment, ...]:
    """Management mostly; zero, one or two attachments on the migration network (the first
    counts), some down or without a usable address; in any order."""
    found = [mgmt(index, speed=rng.choice([0, 100, 1000]))] if rng.random() < 0.9 else []
    for _ in range(rng.choice([0, 1, 1, 1, 2])):
        address = rng.choice([None] * 6 + ["", "fe80::7", "0.0.0.0", "127.0.0.1", "fd00::7"])
        found.append(
            mig(
                index,
                link_up=rng.random() > 0.15,
                speed=rng.choice([0, 1000, 10000, 25000]),
                address=address,
            )
        )
    rng.shuffle(found)
    return tuple(found)


def random_hosts(rng: random.Random, crowded: bool) -> list[HostView]:
    """`HOSTS` hosts with every filter's obstacle somewhere, many alike (ties); `crowded`:
    every one over any incoming limit."""
    incoming = [5] if crowded else [0, 0, 0, 1, 2, 3]
    return [
        host(
            index,
            status=rng.choice(
                [HostStatus.UP] * 8 + [HostStatus.UNREACHABLE, HostStatus.MAINTENANCE]
            ),
            status_reason=rng.choice(["", "agent silent"]),
            free_mib=rng.choice([-10, 0, 2048, 4096, 4097, 8192, 65536, 131072]),
            incoming=rng.choice(incoming),
            cluster_id=rng.choice([CLUSTER_ID] * 19 + ["c2"]),
            bridges=tuple(b for b in BRIDGES if rng.random() < 0.85),
            attachments=random_attachments(rng, index),
        )
        for index in range(1, HOSTS + 1)
    ]


def random_context(rng: random.Random, hosts: list[HostView]) -> PlacementContext:
    ids = [view.host.id for view in hosts]
    return PlacementContext(
        loads={
            i: HostLoad(rng.randint(0, 3), rng.choice([0, 1024, 60_000]))
            for i in rng.sample(ids, rng.choice([0, 30]))
        },
        excluded_host_ids=frozenset(rng.sample(ids, rng.choice([0, 10]))),
        now=T0,
        busy_until={
            i: T0 + timedelta(seconds=rng.choice([-5, 0, 10]))
            for i in rng.sample(ids, rng.choice([0, 30, 250]))
        },
    )


# ---------------------------------------------------------------- the reference


def reference_kinds(
    the_vm: Vm, view: HostView, cluster_networks: ClusterNetworks, context: PlacementContext
) -> list[RejectionKind]:
    """Every filter, evaluated plainly, in the order reasons are shown."""
    host_ = view.host
    load = context.loads.get(host_.id)
    incoming = view.incoming_migrations if load is None else load.incoming
    free = host_.facts.free_memory_mib - (0 if load is None else load.reserved_memory_mib)
    limit = MigrationLimits.of(cluster_networks.cluster.policy).incoming_per_host
    bridges = {nic.name for nic in host_.nics}
    until = context.busy_until.get(host_.id)
    checks = [
        (K.OTHER_CLUSTER, host_.cluster_id != cluster_networks.cluster.id),
        (K.SOURCE, host_.id == the_vm.host_id),
        (K.NOT_UP, host_.status is not HostStatus.UP),
        (K.VM_NETWORK, any(network not in bridges for network in the_vm.networks)),
        (K.ALREADY_TRIED, host_.id in context.excluded_host_ids),
        (K.NOT_ENOUGH_MEMORY, free < the_vm.memory_mib),
        (
            K.MIGRATION_NETWORK,
            cluster_networks.uses_migration_network
            and end_problem(cluster_networks, view, "destination") is not None,
        ),
        (K.INCOMING_LIMIT, incoming >= limit),
        (K.DESTINATION_BUSY, until is not None and context.now is not None and until > context.now),
    ]
    return [kind for kind, rejected in checks if rejected]


def reference_scores(
    hosts: list[HostView], cluster_networks: ClusterNetworks, context: PlacementContext
) -> dict[str, float]:
    """Every host's score: its first link on the carrying network, its incoming migrations and
    free memory net of its load, against the fastest link and most free memory of all."""
    cluster = cluster_networks.cluster
    carrying = (
        cluster.migration_network_id
        if cluster_networks.uses_migration_network
        else cluster.management_network_id
    )
    links = {
        view.host.id: next((a.speed_mbps for a in view.attachments if a.network_id == carrying), 0)
        for view in hosts
    }
    limit = MigrationLimits.of(cluster.policy).incoming_per_host
    scale = ScoreScale(
        max(links.values(), default=0),
        max([0, *(view.host.facts.free_memory_mib for view in hosts)]),
        max(limit, 1),
    )
    scores = {}
    for view in hosts:
        load = context.loads.get(view.host.id)
        incoming = view.incoming_migrations if load is None else load.incoming
        free = view.host.facts.free_memory_mib - (0 if load is None else load.reserved_memory_mib)
        scores[view.host.id] = destination_score(links[view.host.id], incoming, free, scale)
    return scores


# ---------------------------------------------------------------- the comparison


def test_the_fast_pass_chooses_and_explains_as_the_reference() -> None:
    rng = random.Random(20261126)
    outcomes = Counter[PlacementOutcome]()
    for _ in range(SCENARIOS):
        hosts = random_hosts(rng, crowded=rng.random() < 0.25)
        rng.shuffle(hosts)
        source = rng.choice(hosts)
        the_vm = vm(
            "web1",
            on=int(source.host.id[1:]),
            memory_mib=rng.choice([512, 4096, 65_536, 10**6]),
            networks=rng.choice([(), ("prod",), ("prod", "dmz")]),
        )
        cluster_networks = networks(
            migration=rng.random() > 0.2,
            version=rng.choice(["4.7", "4.7", "3.2"]),
            policy=MigrationPolicy(max_incoming_per_host=rng.choice([0, 1, 3])),
        )
        context = random_context(rng, hosts)
        options: dict[str, Any] = {
            "loads": context.loads,
            "excluded_host_ids": context.excluded_host_ids,
            "now": context.now,
            "busy_until": context.busy_until,
        }
        kinds = {v.host.id: reference_kinds(the_vm, v, cluster_networks, context) for v in hosts}
        scores = reference_scores(hosts, cluster_networks, context)

        # Every host's assessment (the explained path) rejects it as the reference does.
        assessments = assess_destinations(the_vm, source, hosts, cluster_networks, **options)
        for assessment in assessments:
            host_id = assessment.host.host.id
            assert [r.kind for r in assessment.rejections] == kinds[host_id], host_id
            if assessment.suitable:
                assert assessment.score == scores[host_id], host_id

        # Rows derived on the scheduler's first look, then as the engine's read derives them.
        fresh = [replace(view) for view in hosts]
        prepare_for_placement(fresh)
        for views in (hosts, fresh):
            decision = choose_destination(the_vm, source, views, cluster_networks, **options)
            suitable = [v for v in views if not kinds[v.host.id]]
            if suitable:
                best = min(suitable, key=lambda v: (-scores[v.host.id], v.host.name, v.host.id))
                assert decision.outcome is PlacementOutcome.PLACED
                assert decision.destination is not None
                assert decision.destination.host.id == best.host.id
                assert decision.score == scores[best.host.id]
                assert decision.path == choose_migration_uri(cluster_networks, source, best)
            elif any(found and all(k.transient for k in found) for found in kinds.values()):
                assert decision.outcome is PlacementOutcome.WAIT
                assert decision.reason == describe_wait(assessments)
            else:
                assert decision.outcome is PlacementOutcome.NO_HOST
                assert decision.reason == describe_rejections(the_vm, assessments)
        outcomes[decision.outcome] += 1
    # The scenarios reach every outcome, several times.
    assert min(outcomes[outcome] for outcome in PlacementOutcome) >= 5, outcomes
