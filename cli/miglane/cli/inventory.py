"""Operator commands for the inventory: clusters, networks and their roles, hosts, VMs, events."""

from __future__ import annotations

import argparse
from datetime import UTC
from typing import Any

from miglane.cli.engine_client import (
    CommandError,
    all_pages,
    call,
    engine_options,
    engine_stub,
    list_clusters,
    list_hosts,
    list_networks,
    resolve_cluster_id,
    resolve_host_id,
    resolve_network_id,
    resolve_vm_id,
)
from miglane.cli.output import (
    NO_CERTIFICATE,
    NOT_MEASURED,
    PRIORITY_CHOICES,
    UNKNOWN_ACTOR,
    certificate_days_left,
    dirty_label,
    dirty_rate_label,
    disks_summary,
    enum_label,
    evacuation_label,
    networks_summary,
    print_fields,
    print_json,
    print_table,
    priority_label,
    priority_value,
    working_set_label,
)

ROLE_CHOICES = ("management", "display", "migration")
BANDWIDTH_MODES = ("auto", "hypervisor-default", "custom")
CONVERGENCE_POLICIES = ("minimal-downtime", "suspend-workload-if-needed", "post-copy")

Subparsers = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parent = engine_options()
    _register_clusters(sub, parent)
    _register_networks(sub, parent)
    _register_hosts(sub, parent)
    _register_vms(sub, parent)
    _register_events(sub, parent)


def run_command(handler: Any) -> Any:
    """Wraps a handler: operator errors become one line on stderr and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        import sys

        try:
            handler(args)
        except CommandError as error:
            print(f"miglane: {error}", file=sys.stderr)
            return 1
        return 0

    return run


# ---------------------------------------------------------------- clusters


def _register_clusters(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    clusters = sub.add_parser("clusters", help="clusters and their migration policy")
    verbs = clusters.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("list", parents=[parent], help="list clusters").set_defaults(
        handler=run_command(_clusters_list)
    )
    show = verbs.add_parser("show", parents=[parent], help="show one cluster")
    show.add_argument("cluster", help="cluster id or name")
    show.set_defaults(handler=run_command(_clusters_show))
    create = verbs.add_parser("create", parents=[parent], help="create a cluster")
    create.add_argument("name")
    create.add_argument("--compatibility-version", default="", metavar="X.Y")
    create.add_argument("--description", default="")
    _add_policy_options(create)
    create.set_defaults(handler=run_command(_clusters_create))
    update = verbs.add_parser("update", parents=[parent], help="change a cluster")
    update.add_argument("cluster", help="cluster id or name")
    update.add_argument("--name")
    update.add_argument("--compatibility-version", metavar="X.Y")
    update.add_argument("--description")
    _add_policy_options(update)
    update.set_defaults(handler=run_command(_clusters_update))
    delete = verbs.add_parser("delete", parents=[parent], help="delete an empty cluster")
    delete.add_argument("cluster", help="cluster id or name")
    delete.set_defaults(handler=run_command(_clusters_delete))


def _add_policy_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("migration policy")
    group.add_argument("--bandwidth-mode", choices=BANDWIDTH_MODES)
    group.add_argument("--custom-mibps", type=int, metavar="MIBPS")
    group.add_argument("--max-outgoing-per-host", type=int, metavar="N")
    group.add_argument("--max-incoming-per-host", type=int, metavar="N")
    group.add_argument("--max-concurrent-per-cluster", type=int, metavar="N")
    group.add_argument("--convergence", choices=CONVERGENCE_POLICIES)
    for flag in ("encrypted", "compressed", "auto-converge", "local-disk-migration"):
        group.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None)
    group.add_argument("--parallel-connections", type=int, metavar="N")
    group.add_argument(
        "--local-disk-bandwidth-percent",
        type=int,
        metavar="N",
        help="the share (1..100) of its cap a migration copying local disks gets; 0: 100",
    )
    group.add_argument(
        "--management-budget-mbps",
        type=int,
        metavar="N",
        help="Mbit/s all migrations falling back to management may use on one management "
        "link (AUTO); 0: the default",
    )
    group.add_argument("--no-progress-timeout-s", type=int, metavar="S")
    group.add_argument("--completion-timeout-s-per-gib", type=int, metavar="S")


# Command-line option (argparse dest) -> MigrationPolicy field, for counts and rates...
POLICY_COUNTS = {
    "custom_mibps": "custom_mib_per_second",
    "max_outgoing_per_host": "max_outgoing_per_host",
    "max_incoming_per_host": "max_incoming_per_host",
    "max_concurrent_per_cluster": "max_concurrent_per_cluster",
    "parallel_connections": "parallel_connections",
    "local_disk_bandwidth_percent": "local_disk_bandwidth_percent",
    "management_budget_mbps": "management_migration_budget_mbit_per_second",
}
# ... and for durations given in whole seconds.
POLICY_SECONDS = {
    "no_progress_timeout_s": "no_progress_timeout",
    "completion_timeout_s_per_gib": "completion_timeout_per_gib",
}


def _policy_from_args(args: argparse.Namespace, base: Any) -> Any | None:
    """The policy to send: `base` with the given options applied, or None when none was given."""
    from miglane.v1 import engine_pb2

    policy = engine_pb2.MigrationPolicy()
    policy.CopyFrom(base)
    changed = False
    if args.bandwidth_mode is not None:
        policy.bandwidth_mode = engine_pb2.BandwidthMode.Value(  # type: ignore[assignment]
            "BANDWIDTH_MODE_" + args.bandwidth_mode.upper().replace("-", "_")
        )
        changed = True
    if args.convergence is not None:
        policy.convergence = engine_pb2.ConvergencePolicy.Value(  # type: ignore[assignment]
            "CONVERGENCE_POLICY_" + args.convergence.upper().replace("-", "_")
        )
        changed = True
    for option, field in POLICY_COUNTS.items():
        value = getattr(args, option)
        if value is not None:
            if value < 0:
                raise CommandError(f"--{option.replace('_', '-')} must be 0 or more, not {value}")
            setattr(policy, field, value)
            changed = True
    for option, field in POLICY_SECONDS.items():
        value = getattr(args, option)
        if value is not None:
            if value < 0:
                raise CommandError(f"--{option.replace('_', '-')} must be 0 or more, not {value}")
            getattr(policy, field).FromSeconds(value)
            changed = True
    for field in ("encrypted", "compressed", "auto_converge", "local_disk_migration"):
        value = getattr(args, field)
        if value is not None:
            setattr(policy, field, value)
            changed = True
    return policy if changed else None


def _clusters_list(args: argparse.Namespace) -> None:
    with engine_stub(args.engine, args.credentials) as stub:
        clusters = list_clusters(stub, args.engine)
        networks = {n.id: n.name for n in list_networks(stub, "", args.engine)}
    if args.json:
        print_json(clusters)
        return
    print_table(
        ["ID", "NAME", "VERSION", "MANAGEMENT", "MIGRATION", "BANDWIDTH", "OUT/IN/CLUSTER"],
        [
            [
                c.id,
                c.name,
                c.compatibility_version,
                networks.get(c.management_network_id, ""),
                networks.get(c.migration_network_id, "") or "(none: management)",
                _bandwidth_label(c.policy),
                f"{c.policy.max_outgoing_per_host}/{c.policy.max_incoming_per_host}/"
                f"{c.policy.max_concurrent_per_cluster or '-'}",
            ]
            for c in clusters
        ],
    )


def _bandwidth_label(policy: Any) -> str:
    from miglane.v1 import engine_pb2

    mode = enum_label(engine_pb2.BandwidthMode.Name(policy.bandwidth_mode), "BANDWIDTH_MODE_")
    return f"{mode} {policy.custom_mibps} MiB/s" if mode == "custom" else mode


def _clusters_show(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        cluster_id = resolve_cluster_id(stub, args.cluster, args.engine)
        cluster = call(
            stub.GetCluster, engine_pb2.GetClusterRequest(cluster_id=cluster_id), args.engine
        ).cluster
    _print_cluster(cluster, args.json)


def _print_cluster(cluster: Any, as_json: bool) -> None:
    from miglane.v1 import engine_pb2

    if as_json:
        print_json(cluster)
        return
    p = cluster.policy
    print_fields(
        [
            ("id", cluster.id),
            ("name", cluster.name),
            ("compatibility version", cluster.compatibility_version),
            ("description", cluster.description),
            ("management network", cluster.management_network_id),
            (
                "migration network",
                cluster.migration_network_id or "(none: migrations use management)",
            ),
            ("bandwidth", _bandwidth_label(p)),
            ("max outgoing per host", p.max_outgoing_per_host),
            ("max incoming per host", p.max_incoming_per_host),
            ("max concurrent per cluster", p.max_concurrent_per_cluster or "no limit"),
            (
                "convergence",
                enum_label(engine_pb2.ConvergencePolicy.Name(p.convergence), "CONVERGENCE_POLICY_"),
            ),
            ("encrypted", p.encrypted),
            ("compressed", p.compressed),
            ("auto converge", p.auto_converge),
            ("parallel connections", p.parallel_connections),
            ("local disk migration", p.local_disk_migration),
            ("local disk bandwidth", f"{p.local_disk_bandwidth_percent}% of the cap"),
            (
                "management migration budget",
                f"{p.management_migration_budget_mbit_per_second} Mbit/s per management link",
            ),
        ]
    )


def _clusters_create(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    # a new cluster's default: encrypted unless --no-encrypted says otherwise
    policy = _policy_from_args(args, engine_pb2.MigrationPolicy(encrypted=True))
    request = engine_pb2.CreateClusterRequest(
        name=args.name,
        compatibility_version=args.compatibility_version,
        description=args.description,
        policy=policy,
    )
    with engine_stub(args.engine, args.credentials) as stub:
        cluster = call(stub.CreateCluster, request, args.engine).cluster
    _print_cluster(cluster, args.json)


def _clusters_update(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        cluster_id = resolve_cluster_id(stub, args.cluster, args.engine)
        current = call(
            stub.GetCluster, engine_pb2.GetClusterRequest(cluster_id=cluster_id), args.engine
        ).cluster
        request = engine_pb2.UpdateClusterRequest(cluster_id=cluster_id)
        if args.name is not None:
            request.name = args.name
        if args.compatibility_version is not None:
            request.compatibility_version = args.compatibility_version
        if args.description is not None:
            request.description = args.description
        policy = _policy_from_args(args, current.policy)
        if policy is not None:
            request.policy.CopyFrom(policy)
        cluster = call(stub.UpdateCluster, request, args.engine).cluster
    _print_cluster(cluster, args.json)


def _clusters_delete(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        cluster_id = resolve_cluster_id(stub, args.cluster, args.engine)
        call(
            stub.DeleteCluster, engine_pb2.DeleteClusterRequest(cluster_id=cluster_id), args.engine
        )
    if not args.json:
        print(f"deleted cluster {cluster_id}")


# ---------------------------------------------------------------- networks


def _register_networks(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    networks = sub.add_parser("networks", help="logical networks and their roles")
    verbs = networks.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", parents=[parent], help="list networks")
    listing.add_argument("--cluster", help="only this cluster (id or name)")
    listing.set_defaults(handler=run_command(_networks_list))
    show = verbs.add_parser("show", parents=[parent], help="show one network")
    show.add_argument("network", help="network id or name")
    show.add_argument("--cluster", help="cluster of the network, when names repeat")
    show.set_defaults(handler=run_command(_networks_show))
    create = verbs.add_parser("create", parents=[parent], help="create a logical network")
    create.add_argument("name")
    create.add_argument("subnet", help="IPv4 or IPv6 CIDR, e.g. 10.0.2.0/24")
    create.add_argument("--cluster", required=True, help="cluster id or name")
    create.add_argument("--required", action="store_true", help="hosts must be attached to it")
    create.add_argument("--qos-mbps", type=int, help="bandwidth for migrations, Mbit/s")
    create.add_argument(
        "--role", action="append", choices=ROLE_CHOICES, default=[], help="grant a role"
    )
    create.add_argument("--description", default="")
    create.set_defaults(handler=run_command(_networks_create))
    update = verbs.add_parser("update", parents=[parent], help="change a network")
    update.add_argument("network", help="network id or name")
    update.add_argument("--cluster", help="cluster of the network, when names repeat")
    update.add_argument("--name")
    update.add_argument("--subnet")
    update.add_argument("--required", action=argparse.BooleanOptionalAction, default=None)
    update.add_argument("--qos-mbps", type=int, help="0 clears it")
    update.add_argument("--description")
    update.set_defaults(handler=run_command(_networks_update))
    delete = verbs.add_parser("delete", parents=[parent], help="delete a network")
    delete.add_argument("network", help="network id or name")
    delete.add_argument("--cluster", help="cluster of the network, when names repeat")
    delete.set_defaults(handler=run_command(_networks_delete))
    for verb, helptext in (("set-role", "grant a role (moves it)"), ("unset-role", "take a role")):
        role = verbs.add_parser(verb, parents=[parent], help=helptext)
        role.add_argument("network", help="network id or name")
        role.add_argument("role", choices=ROLE_CHOICES)
        role.add_argument("--cluster", help="cluster of the network, when names repeat")
        role.set_defaults(
            handler=run_command(_networks_set_role if verb == "set-role" else _networks_unset_role)
        )


def _role_value(name: str) -> Any:
    from miglane.v1 import common_pb2

    return common_pb2.NetworkRole.Value("NETWORK_ROLE_" + name.upper())


def _role_labels(roles: Any) -> str:
    from miglane.v1 import common_pb2

    return ",".join(enum_label(common_pb2.NetworkRole.Name(r), "NETWORK_ROLE_") for r in roles)


def _networks_list(args: argparse.Namespace) -> None:
    with engine_stub(args.engine, args.credentials) as stub:
        cluster_id = resolve_cluster_id(stub, args.cluster, args.engine) if args.cluster else ""
        networks = list_networks(stub, cluster_id, args.engine)
        clusters = {c.id: c.name for c in list_clusters(stub, args.engine)}
    if args.json:
        print_json(networks)
        return
    print_table(
        ["ID", "CLUSTER", "NAME", "SUBNET", "REQUIRED", "ROLES", "QOS"],
        [
            [
                n.id,
                clusters.get(n.cluster_id, n.cluster_id),
                n.name,
                n.subnet,
                n.required,
                _role_labels(n.roles),
                f"{n.qos_mbit_per_second} Mbit/s" if n.HasField("qos_mbit_per_second") else "",
            ]
            for n in networks
        ],
    )


def _print_network(network: Any, as_json: bool) -> None:
    if as_json:
        print_json(network)
        return
    print_fields(
        [
            ("id", network.id),
            ("cluster", network.cluster_id),
            ("name", network.name),
            ("subnet", network.subnet),
            ("required", network.required),
            ("roles", _role_labels(network.roles)),
            (
                "qos",
                f"{network.qos_mbit_per_second} Mbit/s"
                if network.HasField("qos_mbit_per_second")
                else "",
            ),
            ("description", network.description),
        ]
    )


def _networks_show(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        network_id = resolve_network_id(stub, args.network, args.cluster, args.engine)
        network = call(
            stub.GetNetwork, engine_pb2.GetNetworkRequest(network_id=network_id), args.engine
        ).network
    _print_network(network, args.json)


def _networks_create(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        request = engine_pb2.CreateNetworkRequest(
            cluster_id=resolve_cluster_id(stub, args.cluster, args.engine),
            name=args.name,
            subnet=args.subnet,
            required=args.required,
            roles=[_role_value(r) for r in args.role],
            description=args.description,
        )
        if args.qos_mbps is not None:
            if args.qos_mbps < 0:
                raise CommandError(f"--qos-mbps must be 0 or more, not {args.qos_mbps}")
            request.qos_mbit_per_second = args.qos_mbps
        network = call(stub.CreateNetwork, request, args.engine).network
    _print_network(network, args.json)


def _networks_update(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        request = engine_pb2.UpdateNetworkRequest(
            network_id=resolve_network_id(stub, args.network, args.cluster, args.engine)
        )
        if args.name is not None:
            request.name = args.name
        if args.subnet is not None:
            request.subnet = args.subnet
        if args.required is not None:
            request.required = args.required
        if args.qos_mbps is not None:
            if args.qos_mbps < 0:
                raise CommandError(f"--qos-mbps must be 0 or more, not {args.qos_mbps}")
            request.qos_mbit_per_second = args.qos_mbps
        if args.description is not None:
            request.description = args.description
        network = call(stub.UpdateNetwork, request, args.engine).network
    _print_network(network, args.json)


def _networks_delete(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        network_id = resolve_network_id(stub, args.network, args.cluster, args.engine)
        call(
            stub.DeleteNetwork, engine_pb2.DeleteNetworkRequest(network_id=network_id), args.engine
        )
    if not args.json:
        print(f"deleted network {network_id}")


def _networks_set_role(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        network_id = resolve_network_id(stub, args.network, args.cluster, args.engine)
        response = call(
            stub.SetNetworkRole,
            engine_pb2.SetNetworkRoleRequest(network_id=network_id, role=_role_value(args.role)),
            args.engine,
        )
    if args.json:
        print_json(response)
        return
    moved = (
        f" (moved from network {response.previous_network_id})"
        if response.previous_network_id
        else ""
    )
    print(f"network {response.network.name} now holds the {args.role} role{moved}")


def _networks_unset_role(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        network_id = resolve_network_id(stub, args.network, args.cluster, args.engine)
        response = call(
            stub.UnsetNetworkRole,
            engine_pb2.UnsetNetworkRoleRequest(network_id=network_id, role=_role_value(args.role)),
            args.engine,
        )
    if args.json:
        print_json(response)
        return
    after = " (migrations now use the management network)" if args.role == "migration" else ""
    print(f"network {response.network.name} no longer holds the {args.role} role{after}")


# ---------------------------------------------------------------- hosts


def _register_hosts(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    hosts = sub.add_parser("hosts", help="hypervisor hosts and their network attachments")
    verbs = hosts.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", parents=[parent], help="list hosts")
    listing.add_argument("--cluster", help="only this cluster (id or name)")
    listing.set_defaults(handler=run_command(_hosts_list))
    show = verbs.add_parser("show", parents=[parent], help="show one host with its attachments")
    show.add_argument("host", help="host id or name")
    show.add_argument("--cluster", help="cluster of the host, when names repeat")
    show.set_defaults(handler=run_command(_hosts_show))
    add = verbs.add_parser("add", parents=[parent], help="add a host by its agent's address")
    add.add_argument("name")
    add.add_argument("agent_address", metavar="AGENT_HOST:PORT")
    add.add_argument("--cluster", required=True, help="cluster id or name")
    add.set_defaults(handler=run_command(_hosts_add))
    remove = verbs.add_parser("remove", parents=[parent], help="remove a host")
    remove.add_argument("host", help="host id or name")
    remove.add_argument("--cluster", help="cluster of the host, when names repeat")
    remove.set_defaults(handler=run_command(_hosts_remove))
    maintenance = verbs.add_parser(
        "maintenance", parents=[parent], help="evacuate a host and hold it (on), or return it (off)"
    )
    maintenance.add_argument("host", help="host id or name")
    maintenance.add_argument("state", choices=("on", "off"))
    maintenance.add_argument("--cluster", help="cluster of the host, when names repeat")
    maintenance.set_defaults(handler=run_command(_hosts_maintenance))


def _host_status(host: Any) -> str:
    from miglane.v1 import engine_pb2

    return enum_label(engine_pb2.HostStatus.Name(host.status), "HOST_STATUS_")


def _hosts_list(args: argparse.Namespace) -> None:
    with engine_stub(args.engine, args.credentials) as stub:
        cluster_id = resolve_cluster_id(stub, args.cluster, args.engine) if args.cluster else ""
        hosts = list_hosts(stub, cluster_id, args.engine)
    if args.json:
        print_json(hosts)
        return
    print_table(
        ["ID", "NAME", "AGENT", "STATUS", "CERT DAYS", "NETWORKS", "OUT/IN", "REASON"],
        [
            [
                h.id,
                h.name,
                h.agent_address,
                _host_status(h),
                certificate_days_left(h),
                " ".join(
                    f"{a.network_name}:{a.address}{'' if a.link_up else '(down)'}"
                    for a in h.attachments
                ),
                f"{h.outgoing_migration_count}/{h.incoming_migration_count}",
                "; ".join(filter(None, (evacuation_label(h), h.status_reason))),
            ]
            for h in hosts
        ],
    )


def _certificate_end(host: Any) -> str:
    if not host.HasField("certificate_not_after"):
        return NO_CERTIFICATE
    ends = host.certificate_not_after.ToDatetime(tzinfo=UTC)
    return f"ends {ends:%Y-%m-%d %H:%M} UTC ({certificate_days_left(host)} days left)"


def _print_host(host: Any, as_json: bool) -> None:
    if as_json:
        print_json(host)
        return
    print_fields(
        [
            ("id", host.id),
            ("name", host.name),
            ("cluster", host.cluster_id),
            ("agent", host.agent_address),
            ("status", _host_status(host)),
            ("reason", host.status_reason),
            *([("evacuation", evacuation_label(host))] if evacuation_label(host) else []),
            ("certificate", _certificate_end(host)),
            ("host uuid", host.host_uuid),
            ("peer libvirt uri", host.peer_libvirt_uri),
            (
                "cpus / memory",
                f"{host.cpu_count} / {host.memory_mib} MiB ({host.free_memory_mib} free)",
            ),
            (
                "migrations out / in",
                f"{host.outgoing_migration_count} / {host.incoming_migration_count}",
            ),
        ]
    )
    print()
    print_table(
        ["NETWORK", "NIC", "ADDRESS", "LINK", "SPEED"],
        [
            [
                a.network_name,
                a.nic,
                a.address,
                "up" if a.link_up else "down",
                f"{a.speed_mbit_per_second} Mbit/s" if a.speed_mbit_per_second else "",
            ]
            for a in host.attachments
        ],
    )


def _hosts_show(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        host_id = resolve_host_id(stub, args.host, args.cluster, args.engine)
        host = call(stub.GetHost, engine_pb2.GetHostRequest(host_id=host_id), args.engine).host
    _print_host(host, args.json)


def _hosts_add(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        request = engine_pb2.AddHostRequest(
            cluster_id=resolve_cluster_id(stub, args.cluster, args.engine),
            name=args.name,
            agent_address=args.agent_address,
        )
        host = call(stub.AddHost, request, args.engine).host
    _print_host(host, args.json)


def _hosts_remove(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        host_id = resolve_host_id(stub, args.host, args.cluster, args.engine)
        call(stub.RemoveHost, engine_pb2.RemoveHostRequest(host_id=host_id), args.engine)
    if not args.json:
        print(f"removed host {host_id}")


def _hosts_maintenance(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        host_id = resolve_host_id(stub, args.host, args.cluster, args.engine)
        response = call(
            stub.SetHostMaintenance,
            engine_pb2.SetHostMaintenanceRequest(host_id=host_id, enabled=args.state == "on"),
            args.engine,
        )
    if args.json:
        print_json(response)
        return
    print(f"host {response.host.name}: {_host_status(response.host)}")
    evacuation = evacuation_label(response.host)
    if evacuation:
        print(f"  {evacuation}")
    for migration in response.migrations:
        print(f"  evacuating {migration.vm_name or migration.vm_id} (migration {migration.id})")
    for vm in response.unplaced:
        print(f"  cannot place {vm.vm_name or vm.vm_id}: {vm.reason}")


# ---------------------------------------------------------------- VMs and events


def _register_vms(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    vms = sub.add_parser("vms", help="VMs as the agents report them")
    verbs = vms.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", parents=[parent], help="list VMs")
    listing.add_argument("--cluster", help="only this cluster (id or name)")
    listing.add_argument("--host", help="only this host (id or name)")
    listing.set_defaults(handler=run_command(_vms_list))
    show = verbs.add_parser("show", parents=[parent], help="one VM, with its dirty-rate history")
    show.add_argument("vm", help="VM id or name")
    show.set_defaults(handler=run_command(_vms_show))
    priority = verbs.add_parser(
        "set-priority",
        parents=[parent],
        help="set a VM's migration priority (admin): the queue admits higher first, AUTO "
        "gives it a larger share of the link",
    )
    priority.add_argument("vm", help="VM id or name")
    priority.add_argument("priority", choices=PRIORITY_CHOICES)
    priority.set_defaults(handler=run_command(_vms_set_priority))


def _vms_list(args: argparse.Namespace) -> None:
    from miglane.v1 import common_pb2, engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        cluster_id = resolve_cluster_id(stub, args.cluster, args.engine) if args.cluster else ""
        host_id = resolve_host_id(stub, args.host, args.cluster, args.engine) if args.host else ""
        vms = all_pages(
            lambda token: call(
                stub.ListVms,
                engine_pb2.ListVmsRequest(cluster_id=cluster_id, host_id=host_id, page_token=token),
                args.engine,
            ),
            "vms",
        )
        host_names = {h.id: h.name for h in list_hosts(stub, "", args.engine)}
    if args.json:
        print_json(vms)
        return
    print_table(
        [
            "ID",
            "NAME",
            "HOST",
            "STATE",
            "PRIORITY",
            "MEMORY",
            "DIRTY",
            "DISKS",
            "NETWORKS",
            "MIGRATION",
        ],
        [
            [
                v.id,
                v.name,
                host_names.get(v.host_id, v.host_id),
                enum_label(common_pb2.VmState.Name(v.state), "VM_STATE_"),
                priority_label(v.migration_priority),
                f"{v.memory_mib} MiB",
                dirty_rate_label(v),
                disks_summary(v),
                networks_summary(v),
                v.migration_id,
            ]
            for v in vms
        ],
    )


def _vms_show(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        vm_id = resolve_vm_id(stub, args.vm, args.engine)
        vm = call(stub.GetVm, engine_pb2.GetVmRequest(vm_id=vm_id), args.engine).vm
    print_vm(vm, args.json)


def _vms_set_priority(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        vm_id = resolve_vm_id(stub, args.vm, args.engine)
        request = engine_pb2.SetVmMigrationPriorityRequest(
            vm_id=vm_id, priority=priority_value(args.priority)
        )
        vm = call(stub.SetVmMigrationPriority, request, args.engine).vm
    if args.json:
        print_json(vm)
        return
    print(f"VM {vm.name}: migration priority {priority_label(vm.migration_priority)}")


def print_vm(vm: Any, as_json: bool) -> None:
    """One VM's fields, then its dirty-rate history, newest first."""
    from miglane.v1 import common_pb2

    if as_json:
        print_json(vm)
        return
    measured = (
        f"{vm.dirty_rate_measured_at.ToDatetime(tzinfo=UTC):%Y-%m-%d %H:%M:%S} UTC"
        if vm.HasField("dirty_rate_measured_at")
        else NOT_MEASURED
    )
    print_fields(
        [
            ("id", vm.id),
            ("name", vm.name),
            ("host", vm.host_id),
            ("cluster", vm.cluster_id),
            ("state", enum_label(common_pb2.VmState.Name(vm.state), "VM_STATE_")),
            ("migration priority", priority_label(vm.migration_priority)),
            ("memory", f"{vm.memory_mib} MiB"),
            ("dirty rate", dirty_rate_label(vm)),
            ("working set", working_set_label(vm)),
            ("measured", measured),
            ("disks", disks_summary(vm)),
            ("networks", networks_summary(vm)),
            ("migration", vm.migration_id),
        ]
    )
    print()
    print_table(
        ["MEASURED", "DIRTY"],
        [
            [
                f"{s.measured_at.ToDatetime(tzinfo=UTC):%Y-%m-%d %H:%M:%S} UTC",
                dirty_label(s.bytes_per_second, s.working_set_bytes),
            ]
            for s in reversed(vm.dirty_rate_history)
        ],
    )


def _register_events(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    events = sub.add_parser("events", help="the audit log")
    verbs = events.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", parents=[parent], help="list past events")
    listing.add_argument("--cluster", help="only this cluster (id or name)")
    listing.add_argument("--after", type=int, default=0, metavar="SEQUENCE")
    listing.set_defaults(handler=run_command(_events_list))
    watch = verbs.add_parser("watch", parents=[parent], help="follow events as they happen")
    watch.add_argument("--cluster", help="only this cluster (id or name)")
    watch.add_argument("--after", type=int, default=0, metavar="SEQUENCE", help="replay from here")
    watch.set_defaults(handler=run_command(_events_watch))


def _event_row(event: Any) -> list[object]:
    from miglane.v1 import engine_pb2

    return [
        event.sequence,
        event.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
        enum_label(engine_pb2.EventSeverity.Name(event.severity), "EVENT_SEVERITY_"),
        enum_label(engine_pb2.EventType.Name(event.type), "EVENT_TYPE_"),
        event.actor or UNKNOWN_ACTOR,
        event.message,
    ]


def _events_list(args: argparse.Namespace) -> None:
    from miglane.v1 import engine_pb2

    with engine_stub(args.engine, args.credentials) as stub:
        cluster_id = resolve_cluster_id(stub, args.cluster, args.engine) if args.cluster else ""
        events = all_pages(
            lambda token: call(
                stub.ListEvents,
                engine_pb2.ListEventsRequest(
                    cluster_id=cluster_id, after_sequence=args.after, page_token=token
                ),
                args.engine,
            ),
            "events",
        )
    if args.json:
        print_json(events)
        return
    print_table(
        ["SEQ", "TIME", "SEVERITY", "TYPE", "ACTOR", "MESSAGE"], [_event_row(e) for e in events]
    )


def _events_watch(args: argparse.Namespace) -> None:
    from miglane.cli.engine_client import follow_stream
    from miglane.v1 import engine_pb2

    def show(item: engine_pb2.WatchEventsResponse) -> None:
        if args.json:
            print_json(item.event)
        else:
            print("  ".join(str(c) for c in _event_row(item.event)), flush=True)

    with engine_stub(args.engine, args.credentials) as stub:
        cluster_id = resolve_cluster_id(stub, args.cluster, args.engine) if args.cluster else ""
        stream = stub.WatchEvents(
            engine_pb2.WatchEventsRequest(cluster_id=cluster_id, after_sequence=args.after)
        )
        follow_stream(stream, show, args.engine)
