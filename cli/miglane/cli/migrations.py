"""Operator commands for migrations: migrate, candidates, cancel, bandwidth, list, watch."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from miglane.cli.engine_client import (
    CommandError,
    all_pages,
    call,
    engine_options,
    engine_stub,
    follow_stream,
    host_names,
    resolve_cluster_id,
    resolve_host_id,
    resolve_vm_id,
)
from miglane.cli.inventory import run_command
from miglane.cli.output import (
    PRIORITY_CHOICES,
    enum_label,
    print_fields,
    print_json,
    print_table,
    priority_label,
    priority_value,
    time_left_label,
)
from miglane.v1.data_sent import memory_sent_sentence

MIB = 1024 * 1024


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parent = engine_options()
    migrations = sub.add_parser("migrations", help="live migrations and their progress")
    verbs = migrations.add_subparsers(dest="verb", required=True, metavar="VERB")

    migrate = verbs.add_parser(
        "start", parents=[parent], help="migrate a VM (automatic unless --to is given)"
    )
    migrate.add_argument("vm", help="VM id (libvirt UUID) or name")
    migrate.add_argument("--to", metavar="HOST", help="destination host id or name (manual)")
    migrate.add_argument("--bandwidth-mibps", type=int, help="override the cluster's policy")
    migrate.add_argument(
        "--priority", choices=PRIORITY_CHOICES, help="this migration's priority instead of the VM's"
    )
    migrate.set_defaults(handler=run_command(_start))

    candidates = verbs.add_parser(
        "candidates", parents=[parent], help="each host as a destination for a VM, and why"
    )
    candidates.add_argument("vm", help="VM id or name")
    candidates.set_defaults(handler=run_command(_candidates))

    listing = verbs.add_parser("list", parents=[parent], help="past and present migrations")
    listing.add_argument("--cluster", help="only this cluster (id or name)")
    listing.add_argument("--active", action="store_true", help="only queued and running ones")
    listing.set_defaults(handler=run_command(_list))

    show = verbs.add_parser("show", parents=[parent], help="one migration")
    show.add_argument("migration")
    show.set_defaults(handler=run_command(_show))

    cancel = verbs.add_parser("cancel", parents=[parent], help="cancel a queued or running one")
    cancel.add_argument("migration")
    cancel.set_defaults(handler=run_command(_cancel))

    bandwidth = verbs.add_parser("bandwidth", parents=[parent], help="change a migration's cap")
    bandwidth.add_argument("migration")
    bandwidth.add_argument("mibps", type=int, help="MiB/s")
    bandwidth.set_defaults(handler=run_command(_bandwidth))

    watch = verbs.add_parser("watch", parents=[parent], help="follow migrations' progress")
    watch.add_argument("--cluster", help="only this cluster (id or name)")
    watch.add_argument("--migration", default="", help="only this migration")
    watch.set_defaults(handler=run_command(_watch))


def phase_label(phase: int) -> str:
    from miglane.v1 import common_pb2

    return enum_label(common_pb2.MigrationPhase.Name(phase), "MIGRATION_PHASE_")  # type: ignore[arg-type]


def network_label(migration: Any) -> str:
    """Which network carries the data, with the fallback reason when it is not migration's."""
    from miglane.v1 import common_pb2

    if migration.fallback_reason == common_pb2.FALLBACK_REASON_UNSPECIFIED:
        return "migration" if migration.network_id else "-"
    reason = enum_label(
        common_pb2.FallbackReason.Name(migration.fallback_reason), "FALLBACK_REASON_"
    )
    return f"management (fallback: {reason})"


def _rate(bps: int) -> str:
    return f"{bps / MIB:.1f} MiB/s" if bps else ""


def predicted_finish_label(m: Any, now: datetime | None = None) -> str:
    """The predicted finish, "in 2m10s"; empty when none was predicted."""
    if not m.HasField("expected_finish_at"):
        return ""
    return time_left_label(m.expected_finish_at.ToDatetime(tzinfo=UTC), now)


def verdict_label(m: Any) -> str:
    from miglane.v1 import engine_pb2

    if not m.verdict:
        return ""
    return enum_label(engine_pb2.ConvergenceVerdict.Name(m.verdict), "CONVERGENCE_VERDICT_")


def host_label(names: Mapping[str, str], host_id: str) -> str:
    """A host's name where the engine knows it; its id otherwise (a host since removed)."""
    return names.get(host_id, host_id)


def _row(m: Any, names: Mapping[str, str]) -> list[object]:
    return [
        m.id,
        m.vm_name or m.vm_id,
        host_label(names, m.source_host_id),
        host_label(names, m.destination_host_id),
        phase_label(m.phase),
        f"{m.progress_percent}%",
        _rate(m.throughput_bytes_per_second),
        f"{m.data_remaining_bytes / MIB:.0f} MiB" if m.data_total_bytes else "",
        f"{m.max_bandwidth_mib_per_second} MiB/s" if m.max_bandwidth_mib_per_second else "default",
        network_label(m),
        predicted_finish_label(m),
        verdict_label(m),
    ]


HEADERS = [
    "ID",
    "VM",
    "FROM",
    "TO",
    "PHASE",
    "DONE",
    "RATE",
    "LEFT",
    "CAP",
    "NETWORK",
    "FINISH",
    "VERDICT",
]


def disk_copy_label(m: Any) -> str:
    """How much of the VM's local disks has been copied ("X of Y copied"); empty when the
    migration copies no disk."""
    if not m.disk_total_bytes:
        return ""
    return f"{m.disk_processed_bytes / MIB:.0f} of {m.disk_total_bytes / MIB:.0f} MiB copied"


def path_label(m: Any) -> str:
    """The proof of path, e.g. "migration: 257 MiB over mig0 for 256 MiB of memory", flagged
    when the data left by another NIC; empty before the agent measured it."""
    from miglane.v1 import engine_pb2

    if not m.HasField("path_proof"):
        return ""
    if m.path_proof.verdict == engine_pb2.PATH_VERDICT_OFF_PATH:
        return f"⚠ OFF PATH {m.path_proof.summary}"
    return str(m.path_proof.summary)


def print_migration(m: Any, as_json: bool, names: Mapping[str, str] | None = None) -> None:
    if as_json:
        print_json(m)
        return
    disk = disk_copy_label(m)
    print_fields(
        [
            ("id", m.id),
            ("vm", f"{m.vm_name} ({m.vm_id})" if m.vm_name else m.vm_id),
            ("from", _host_field(names or {}, m.source_host_id)),
            ("to", _host_field(names or {}, m.destination_host_id) or "(scheduler chooses)"),
            ("automatic", m.automatic),
            ("phase", phase_label(m.phase)),
            ("priority", _priority(m)),
            ("queued because", m.queue_reason),
            ("predicted finish", predicted_finish_label(m)),
            (
                "verdict",
                f"{verdict_label(m)}: {m.verdict_reason}" if m.verdict_reason else "",
            ),
            ("progress", f"{m.progress_percent}%"),
            ("data", memory_sent_sentence(m)),
            *([("disk", disk)] if disk else []),
            ("throughput", _rate(m.throughput_bytes_per_second)),
            ("dirty rate", _rate(m.dirty_rate_bytes_per_second)),
            ("iteration", m.iteration),
            (
                "bandwidth cap",
                f"{m.max_bandwidth_mib_per_second} MiB/s"
                if m.max_bandwidth_mib_per_second
                else "default",
            ),
            ("network", network_label(m)),
            ("fallback detail", m.fallback_detail),
            ("migration uri", m.migration_uri),
            ("path", path_label(m)),
            (
                "downtime",
                f"{m.downtime.ToMilliseconds()} ms" if m.downtime.ToMilliseconds() else "",
            ),
            ("error", m.error),
        ]
    )


def _host_field(names: Mapping[str, str], host_id: str) -> str:
    name = names.get(host_id)
    return f"{name} ({host_id})" if name else host_id


def _priority(m: Any) -> str:
    label = priority_label(m.priority)
    return f"{label} (set on the migration)" if m.priority_overridden else label


def _start(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        request = engine_pb2.MigrateVmRequest(vm_id=resolve_vm_id(stub, args.vm, args.engine))
        if args.to:
            request.destination_host_id = resolve_host_id(stub, args.to, None, args.engine)
        if args.bandwidth_mibps is not None:
            if args.bandwidth_mibps <= 0:
                raise CommandError(
                    f"--bandwidth-mibps must be more than 0, not {args.bandwidth_mibps}"
                )
            request.max_bandwidth_mib_per_second = args.bandwidth_mibps
        if args.priority is not None:
            request.priority = priority_value(args.priority)
        migration = call(stub.MigrateVm, request, args.engine).migration
        names = host_names(stub, args.engine)
    print_migration(migration, args.json, names)


def _candidates(args: argparse.Namespace) -> None:
    from miglane.v1 import common_pb2, engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        vm_id = resolve_vm_id(stub, args.vm, args.engine)
        candidates = all_pages(
            lambda token: call(
                stub.ListMigrationCandidates,
                engine_pb2.ListMigrationCandidatesRequest(vm_id=vm_id, page_token=token),
                args.engine,
            ),
            "candidates",
        )
    if args.json:
        print_json(candidates)
        return
    print_table(
        ["HOST", "AUTOMATIC", "MANUAL", "NETWORK", "WHY"],
        [
            [
                c.host_name or c.host_id,
                c.suitable,
                c.manual_allowed,
                "migration"
                if c.fallback_reason == common_pb2.FALLBACK_REASON_UNSPECIFIED
                else "management",
                _candidate_why(c),
            ]
            for c in candidates
        ],
    )


def _candidate_why(candidate: Any) -> str:
    """Why the scheduler would not pick it, then which network would carry the data and why."""
    detail = candidate.fallback_detail
    # The detail repeats a link-down or not-attached rejection in full: say it once.
    reasons = [r for r in candidate.rejections if not (detail and detail.startswith(r))]
    return "; ".join([*reasons, detail] if detail else reasons)


def _list(args: argparse.Namespace) -> None:
    from miglane.v1 import common_pb2, engine_pb2

    active = [
        common_pb2.MIGRATION_PHASE_QUEUED,
        common_pb2.MIGRATION_PHASE_PREPARING,
        common_pb2.MIGRATION_PHASE_RUNNING,
    ]
    with engine_stub(args.engine, args.credentials) as stub:
        cluster_id = resolve_cluster_id(stub, args.cluster, args.engine) if args.cluster else ""
        migrations = all_pages(
            lambda token: call(
                stub.ListMigrations,
                engine_pb2.ListMigrationsRequest(
                    cluster_id=cluster_id, phases=active if args.active else [], page_token=token
                ),
                args.engine,
            ),
            "migrations",
        )
        names = {} if args.json else host_names(stub, args.engine)
    if args.json:
        print_json(migrations)
        return
    print_table(HEADERS, [_row(m, names) for m in migrations])


def _show(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        migration = call(
            stub.GetMigration,
            engine_pb2.GetMigrationRequest(migration_id=args.migration),
            args.engine,
        ).migration
        names = host_names(stub, args.engine)
    print_migration(migration, args.json, names)


def _cancel(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        migration = call(
            stub.CancelMigration,
            engine_pb2.CancelMigrationRequest(migration_id=args.migration),
            args.engine,
        ).migration
        names = host_names(stub, args.engine)
    print_migration(migration, args.json, names)


def _bandwidth(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    if args.mibps <= 0:
        raise CommandError(f"the bandwidth must be more than 0 MiB/s, not {args.mibps}")
    with engine_stub(args.engine, args.credentials) as stub:
        migration = call(
            stub.SetMigrationBandwidth,
            engine_pb2.SetMigrationBandwidthRequest(
                migration_id=args.migration, max_bandwidth_mib_per_second=args.mibps
            ),
            args.engine,
        ).migration
        names = host_names(stub, args.engine)
    print_migration(migration, args.json, names)


def _watch(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    def show(item: engine_pb2.WatchMigrationsResponse) -> None:
        if not item.HasField("migration"):
            return
        if args.json:
            print_json(item.migration)
        else:
            print("  ".join(str(c) for c in _row(item.migration, names)), flush=True)

    with engine_stub(args.engine, args.credentials) as stub:
        names = host_names(stub, args.engine)
        cluster_id = resolve_cluster_id(stub, args.cluster, args.engine) if args.cluster else ""
        stream = stub.WatchMigrations(
            engine_pb2.WatchMigrationsRequest(cluster_id=cluster_id, migration_id=args.migration)
        )
        follow_stream(stream, show, args.engine)
