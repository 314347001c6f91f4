"""The engine's side of AgentService: status codes become decisions, policy becomes the verb."""

from __future__ import annotations

import grpc
import pytest

from miglane.engine.agent_client import AgentCallErrorKind, _call_error
from miglane.engine.domain.convergence import migration_tuning
from miglane.engine.domain.evacuation import MigrationFailureKind
from miglane.engine.domain.model import ConvergencePolicy, MigrationPhase, MigrationPolicy
from miglane.engine.domain.progress import MigrateCall
from miglane.engine.grpc_api.converters import migrate_request, sample_from_proto
from miglane.v1 import agent_pb2, common_pb2


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, AgentCallErrorKind.BUSY),
        (grpc.StatusCode.UNAVAILABLE, AgentCallErrorKind.UNREACHABLE),
        (grpc.StatusCode.DEADLINE_EXCEEDED, AgentCallErrorKind.UNREACHABLE),
        (grpc.StatusCode.NOT_FOUND, AgentCallErrorKind.NOT_FOUND),
        (grpc.StatusCode.ALREADY_EXISTS, AgentCallErrorKind.ALREADY_EXISTS),
        (grpc.StatusCode.FAILED_PRECONDITION, AgentCallErrorKind.REFUSED),
        (grpc.StatusCode.INVALID_ARGUMENT, AgentCallErrorKind.REFUSED),
        (grpc.StatusCode.UNIMPLEMENTED, AgentCallErrorKind.REFUSED),
        (grpc.StatusCode.INTERNAL, AgentCallErrorKind.OTHER),
    ],
)
def test_status_codes_become_kinds(code: grpc.StatusCode, kind: AgentCallErrorKind) -> None:
    error = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "why")
    mapped = _call_error("10.0.0.1:50061", error)
    assert mapped.kind is kind
    assert "10.0.0.1:50061" in str(mapped) and "why" in mapped.detail


@pytest.mark.parametrize("cap", [None, 0, 64])
def test_migrate_request_carries_the_policy(cap: int | None) -> None:
    policy = MigrationPolicy(
        convergence=ConvergencePolicy.POST_COPY,
        encrypted=True,
        compressed=True,
        auto_converge=True,
        parallel_connections=4,
    )
    request = migrate_request(
        MigrateCall(
            "m1", "vm1", "qemu+tcp://h2/system", "tcp://10.1.0.2", cap, migration_tuning(policy)
        )
    )
    assert (request.migration_id, request.vm_id, request.dst) == (
        "m1",
        "vm1",
        "qemu+tcp://h2/system",
    )
    assert request.mode == common_pb2.MIGRATION_MODE_LIVE
    assert request.migration_uri == "tcp://10.1.0.2"
    assert request.HasField("max_bandwidth_mibps") is bool(cap)
    assert request.encrypted and request.compressed and request.auto_converge
    assert request.parallel_connections == 4 and request.post_copy_allowed
    actions = [step.action for step in request.convergence_schedule.stalling]
    assert actions[-1] == common_pb2.CONVERGENCE_ACTION_POST_COPY
    assert request.no_progress_timeout_s == 150 and request.completion_timeout_s_per_gib == 800


def test_sample_from_proto() -> None:
    progress = agent_pb2.MigrationProgress(
        migration_id="m1",
        phase=common_pb2.MIGRATION_PHASE_FAILED,
        progress_percent=40,
        error="lost",
        failure_kind=agent_pb2.MIGRATION_FAILURE_KIND_NETWORK,
    )
    progress.finished_at.seconds = 1_800_000_000
    sample = sample_from_proto(progress)
    assert sample.phase is MigrationPhase.FAILED and sample.finished
    assert sample.failure_kind is MigrationFailureKind.NETWORK
    assert sample.finished_at is not None and sample.started_at is None
    odd = sample_from_proto(agent_pb2.MigrationProgress(phase=77, failure_kind=99))  # type: ignore[arg-type]
    assert odd.phase is MigrationPhase.RUNNING and odd.failure_kind is MigrationFailureKind.OTHER
