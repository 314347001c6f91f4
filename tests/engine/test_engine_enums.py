"""Domain enums mirror the generated ones: same names (after the enum's prefix), same numbers,
in both directions. The generated enum is found by the domain enum's name, in whichever
contract module defines it."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import re
from enum import IntEnum
from types import ModuleType

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from miglane.engine.domain import convergence, model
from miglane.engine.domain.failures import MigrationFailureKind
from miglane.engine.grpc_api.converters import fallback_reason_to_proto
from miglane.v1 import common_pb2

MIRRORS: list[type[IntEnum]] = [
    model.NetworkRole,
    model.MigrationPhase,
    model.VmState,
    model.HostStatus,
    model.BandwidthMode,
    model.ConvergencePolicy,
    model.ConvergenceVerdict,
    model.MigrationPriority,
    model.DiskKind,
    model.EventType,
    model.EventSeverity,
    model.PathVerdict,
    convergence.ConvergenceAction,
    MigrationFailureKind,
]

CONTRACT_PACKAGES = ("miglane.v1", "miglane.engine.v1", "miglane.agent.v1")


def generated_modules() -> list[ModuleType]:
    modules = []
    for package_name in CONTRACT_PACKAGES:
        with contextlib.suppress(ImportError):
            package = importlib.import_module(package_name)
            for info in pkgutil.iter_modules(package.__path__, package_name + "."):
                if info.name.endswith("_pb2"):
                    modules.append(importlib.import_module(info.name))
    return modules


def proto_enum(name: str) -> EnumTypeWrapper:
    found = [
        getattr(module, name)
        for module in generated_modules()
        if isinstance(getattr(module, name, None), EnumTypeWrapper)
    ]
    assert found, f"no generated enum {name}"
    return found[0]


def prefix_of(name: str) -> str:
    """MigrationFailureKind -> MIGRATION_FAILURE_KIND_ (the buf style of enum value names)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper() + "_"


@pytest.mark.parametrize("domain", MIRRORS, ids=[d.__name__ for d in MIRRORS])
def test_domain_enum_mirrors_proto(domain: type[IntEnum]) -> None:
    proto = proto_enum(domain.__name__)
    prefix = prefix_of(domain.__name__)
    assert all(name.startswith(prefix) for name, _ in proto.items())
    generated = {name.removeprefix(prefix): number for name, number in proto.items()}
    assert {member.name: member.value for member in domain} == generated


def test_prefix_of() -> None:
    assert prefix_of("VmState") == "VM_STATE_"
    assert prefix_of("MigrationFailureKind") == "MIGRATION_FAILURE_KIND_"


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
