"""How the operator commands reach the engine: address, identity (mutual TLS with the
operator's credentials, checking the server is the engine), channel, errors, name resolution."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc

from miglane.grpctls import channel_credentials, target_name_options
from miglane.pki import CREDENTIALS_ENV, ENGINE_NAME, PkiError, load_client_credentials
from miglane.v1 import engine_pb2, engine_pb2_grpc
from miglane.v1.rich_errors import error_details

ENGINE_ADDRESS_ENV = "MIGLANE_ENGINE"
DEFAULT_ENGINE_ADDRESS = "127.0.0.1:50051"
CALL_TIMEOUT_S = 15.0
# The engine's ErrorInfo reason for a stream it stopped because its client fell behind.
CONSUMER_TOO_SLOW = "CONSUMER_TOO_SLOW"

T = TypeVar("T")


class CommandError(Exception):
    """A failure to report to the operator in one line, without a traceback."""


def engine_options() -> argparse.ArgumentParser:
    """Options every command that talks to the engine accepts."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--engine",
        default=os.environ.get(ENGINE_ADDRESS_ENV, DEFAULT_ENGINE_ADDRESS),
        metavar="HOST:PORT",
        help=f"engine address (env {ENGINE_ADDRESS_ENV}, default {DEFAULT_ENGINE_ADDRESS})",
    )
    add_credentials_option(parent)
    parent.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parent


def add_credentials_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--credentials",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"your identity (`miglane pki issue`; env {CREDENTIALS_ENV}, default "
        "$XDG_CONFIG_HOME/miglane/credentials)",
    )


@contextmanager
def engine_stub(
    address: str, credentials_dir: Path | None = None
) -> Iterator[engine_pb2_grpc.EngineServiceStub]:
    """A stub over mutual TLS as the operator's identity, checking the server is the engine
    (its certificate's DNS SAN `engine`), whatever address is dialled."""
    try:
        credentials = load_client_credentials(credentials_dir)
    except PkiError as error:
        raise CommandError(str(error)) from None
    with grpc.secure_channel(
        address, channel_credentials(credentials), options=target_name_options(ENGINE_NAME)
    ) as channel:
        yield engine_pb2_grpc.EngineServiceStub(channel)


def call(rpc: Callable[..., T], request: object, address: str) -> T:
    """One unary call, with the engine's status turned into a CommandError."""
    try:
        return rpc(request, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        raise CommandError(describe_rpc_error(error, address)) from None


def follow_stream(stream: Any, show: Callable[[Any], None], address: str) -> None:
    """Shows each item of a server stream as it comes, until the engine ends it or the
    operator presses Ctrl-C; a broken stream is a CommandError."""
    try:
        for item in stream:
            show(item)
    except grpc.RpcError as error:
        raise CommandError(describe_rpc_error(error, address)) from None
    except KeyboardInterrupt:
        stream.cancel()


def describe_rpc_error(error: grpc.RpcError, address: str) -> str:
    code = error.code() if isinstance(error, grpc.Call) else None
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return (
            f"cannot reach the engine at {address} ({details}); "
            f"start it with `miglane engine` or pass --engine / set {ENGINE_ADDRESS_ENV}"
        )
    name = code.name if code is not None else "ERROR"
    said = error_details(error.trailing_metadata() if isinstance(error, grpc.Call) else None)
    resume_after = said.metadata.get("resume_after")
    if said.reason == CONSUMER_TOO_SLOW and resume_after:
        return f"{name}: {details}; resume with --after {resume_after}"
    return f"{name}: {details}"


def resolve_cluster_id(stub: engine_pb2_grpc.EngineServiceStub, ref: str, address: str) -> str:
    """A cluster given by id or by name."""
    return _resolve(
        lambda: (
            stub.GetCluster(
                engine_pb2.GetClusterRequest(cluster_id=ref), timeout=CALL_TIMEOUT_S
            ).cluster
        ),
        lambda: list_clusters(stub, address),
        "cluster",
        ref,
        address,
    )


def resolve_network_id(
    stub: engine_pb2_grpc.EngineServiceStub, ref: str, cluster: str | None, address: str
) -> str:
    """A network given by id, or by name (within --cluster when names repeat across clusters)."""
    return _resolve(
        lambda: (
            stub.GetNetwork(
                engine_pb2.GetNetworkRequest(network_id=ref), timeout=CALL_TIMEOUT_S
            ).network
        ),
        lambda: list_networks(stub, _cluster_filter(stub, cluster, address), address),
        "network",
        ref,
        address,
        hint="pass --cluster",
    )


def resolve_host_id(
    stub: engine_pb2_grpc.EngineServiceStub, ref: str, cluster: str | None, address: str
) -> str:
    """A host given by id, or by name (within --cluster when names repeat across clusters)."""
    return _resolve(
        lambda: stub.GetHost(engine_pb2.GetHostRequest(host_id=ref), timeout=CALL_TIMEOUT_S).host,
        lambda: list_hosts(stub, _cluster_filter(stub, cluster, address), address),
        "host",
        ref,
        address,
        hint="pass --cluster",
    )


def resolve_vm_id(stub: Any, ref: str, address: str) -> str:
    """The id of the VM with id or name `ref`."""
    try:
        return str(stub.GetVm(engine_pb2.GetVmRequest(vm_id=ref), timeout=15).vm.id)
    except grpc.RpcError as error:
        code = error.code() if isinstance(error, grpc.Call) else None
        if code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise CommandError(describe_rpc_error(error, address)) from None
    matches = [
        vm
        for vm in all_pages(
            lambda token: call(stub.ListVms, engine_pb2.ListVmsRequest(page_token=token), address),
            "vms",
        )
        if vm.name == ref
    ]
    if not matches:
        raise CommandError(f"no VM with id or name {ref!r}")
    if len(matches) > 1:
        raise CommandError(f"{len(matches)} VMs are named {ref!r}: give the id")
    return str(matches[0].id)


def _cluster_filter(
    stub: engine_pb2_grpc.EngineServiceStub, cluster: str | None, address: str
) -> str:
    return resolve_cluster_id(stub, cluster, address) if cluster else ""


def _resolve(
    get_by_id: Callable[[], Any],
    list_all: Callable[[], list[Any]],
    kind: str,
    ref: str,
    address: str,
    hint: str = "",
) -> str:
    try:
        return str(get_by_id().id)
    except grpc.RpcError as error:
        if not _is_lookup_miss(error):
            raise CommandError(describe_rpc_error(error, address)) from None
    return str(_single([item for item in list_all() if item.name == ref], kind, ref, hint).id)


def list_clusters(
    stub: engine_pb2_grpc.EngineServiceStub, address: str
) -> list[engine_pb2.Cluster]:
    return all_pages(
        lambda token: call(
            stub.ListClusters, engine_pb2.ListClustersRequest(page_token=token), address
        ),
        "clusters",
    )


def list_networks(
    stub: engine_pb2_grpc.EngineServiceStub, cluster_id: str, address: str
) -> list[engine_pb2.Network]:
    return all_pages(
        lambda token: call(
            stub.ListNetworks,
            engine_pb2.ListNetworksRequest(cluster_id=cluster_id, page_token=token),
            address,
        ),
        "networks",
    )


def host_names(stub: engine_pb2_grpc.EngineServiceStub, address: str) -> dict[str, str]:
    """Every host's name by id, for showing names where the engine's records hold ids."""
    return {host.id: host.name for host in list_hosts(stub, "", address)}


def list_hosts(
    stub: engine_pb2_grpc.EngineServiceStub, cluster_id: str, address: str
) -> list[engine_pb2.Host]:
    return all_pages(
        lambda token: call(
            stub.ListHosts,
            engine_pb2.ListHostsRequest(cluster_id=cluster_id, page_token=token),
            address,
        ),
        "hosts",
    )


def all_pages(fetch: Callable[[str], Any], field: str) -> list[Any]:
    """Every item of a paged list RPC: `fetch(page_token)` returns one page."""
    items: list[Any] = []
    token = ""
    while True:
        page = fetch(token)
        items.extend(getattr(page, field))
        token = page.next_page_token
        if not token:
            return items


def _is_lookup_miss(error: grpc.RpcError) -> bool:
    # An id-shaped lookup of a name answers NOT_FOUND or INVALID_ARGUMENT: then try the name.
    code = error.code() if isinstance(error, grpc.Call) else None
    return code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


def _single(matches: list[T], kind: str, ref: str, hint: str = "") -> T:
    if not matches:
        raise CommandError(f"no {kind} with id or name {ref!r}")
    if len(matches) > 1:
        more = f"; {hint}" if hint else ""
        raise CommandError(f"{len(matches)} {kind}s are named {ref!r}: give the id{more}")
    return matches[0]
