"""Domain enums mirror the generated ones: same names, same numbers, in both directions."""

from __future__ import annotations

from enum import IntEnum

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from miglane.engine.domain import model
from miglane.engine.grpc_api.converters import fallback_reason_to_proto
from miglane.v1 import common_pb2, engine_pb2

PAIRS = [
    (model.NetworkRole, common_pb2.NetworkRole, "NETWORK_ROLE_"),
    (model.MigrationPhase, common_pb2.MigrationPhase, "MIGRATION_PHASE_"),
    (model.VmState, common_pb2.VmState, "VM_STATE_"),
    (model.HostStatus, engine_pb2.HostStatus, "HOST_STATUS_"),
    (model.BandwidthMode, engine_pb2.BandwidthMode, "BANDWIDTH_MODE_"),
    (model.ConvergencePolicy, engine_pb2.ConvergencePolicy, "CONVERGENCE_POLICY_"),
    (model.EventType, engine_pb2.EventType, "EVENT_TYPE_"),
    (model.EventSeverity, engine_pb2.EventSeverity, "EVENT_SEVERITY_"),
]


@pytest.mark.parametrize(("domain", "proto", "prefix"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_domain_enum_mirrors_proto(
    domain: type[IntEnum], proto: EnumTypeWrapper, prefix: str
) -> None:
    assert {prefix + member.name: member.value for member in domain} == dict(proto.items())


def test_fallback_reason_mirrors_proto_but_none_is_unspecified() -> None:
    """The domain tells "not decided yet" (UNSPECIFIED) from "no fallback" (NONE); the
    contract has no NONE: UNSPECIFIED there means no fallback."""
    domain = {
        f"FALLBACK_REASON_{member.name}": member.value
        for member in model.FallbackReason
        if member is not model.FallbackReason.NONE
    }
    assert domain == dict(common_pb2.FallbackReason.items())
    assert fallback_reason_to_proto(model.FallbackReason.NONE) == (
        common_pb2.FALLBACK_REASON_UNSPECIFIED
    )
    assert fallback_reason_to_proto(model.FallbackReason.NO_ADDRESS) == (
        common_pb2.FALLBACK_REASON_NO_ADDRESS
    )
