import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NetworkRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NETWORK_ROLE_UNSPECIFIED: _ClassVar[NetworkRole]
    NETWORK_ROLE_MANAGEMENT: _ClassVar[NetworkRole]
    NETWORK_ROLE_DISPLAY: _ClassVar[NetworkRole]
    NETWORK_ROLE_MIGRATION: _ClassVar[NetworkRole]

class MigrationPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MIGRATION_PHASE_UNSPECIFIED: _ClassVar[MigrationPhase]
    MIGRATION_PHASE_QUEUED: _ClassVar[MigrationPhase]
    MIGRATION_PHASE_PREPARING: _ClassVar[MigrationPhase]
    MIGRATION_PHASE_RUNNING: _ClassVar[MigrationPhase]
    MIGRATION_PHASE_COMPLETED: _ClassVar[MigrationPhase]
    MIGRATION_PHASE_FAILED: _ClassVar[MigrationPhase]
    MIGRATION_PHASE_CANCELLED: _ClassVar[MigrationPhase]

class FallbackReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FALLBACK_REASON_UNSPECIFIED: _ClassVar[FallbackReason]
    FALLBACK_REASON_NO_MIGRATION_NETWORK: _ClassVar[FallbackReason]
    FALLBACK_REASON_DESTINATION_NOT_ATTACHED: _ClassVar[FallbackReason]
    FALLBACK_REASON_DESTINATION_LINK_DOWN: _ClassVar[FallbackReason]
    FALLBACK_REASON_SOURCE_LINK_DOWN: _ClassVar[FallbackReason]
    FALLBACK_REASON_NO_ADDRESS: _ClassVar[FallbackReason]
    FALLBACK_REASON_LEGACY_CLUSTER: _ClassVar[FallbackReason]
    FALLBACK_REASON_SOURCE_NOT_ATTACHED: _ClassVar[FallbackReason]

class MigrationMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MIGRATION_MODE_UNSPECIFIED: _ClassVar[MigrationMode]
    MIGRATION_MODE_LIVE: _ClassVar[MigrationMode]
    MIGRATION_MODE_HIBERNATE: _ClassVar[MigrationMode]

class VmState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VM_STATE_UNSPECIFIED: _ClassVar[VmState]
    VM_STATE_RUNNING: _ClassVar[VmState]
    VM_STATE_PAUSED: _ClassVar[VmState]
    VM_STATE_SHUT_OFF: _ClassVar[VmState]
    VM_STATE_MIGRATING: _ClassVar[VmState]
    VM_STATE_CRASHED: _ClassVar[VmState]
    VM_STATE_SAVED: _ClassVar[VmState]

class ConvergenceAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERGENCE_ACTION_UNSPECIFIED: _ClassVar[ConvergenceAction]
    CONVERGENCE_ACTION_SET_DOWNTIME: _ClassVar[ConvergenceAction]
    CONVERGENCE_ACTION_POST_COPY: _ClassVar[ConvergenceAction]
    CONVERGENCE_ACTION_ABORT: _ClassVar[ConvergenceAction]

class DiskKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISK_KIND_UNSPECIFIED: _ClassVar[DiskKind]
    DISK_KIND_SHARED: _ClassVar[DiskKind]
    DISK_KIND_LOCAL: _ClassVar[DiskKind]
NETWORK_ROLE_UNSPECIFIED: NetworkRole
NETWORK_ROLE_MANAGEMENT: NetworkRole
NETWORK_ROLE_DISPLAY: NetworkRole
NETWORK_ROLE_MIGRATION: NetworkRole
MIGRATION_PHASE_UNSPECIFIED: MigrationPhase
MIGRATION_PHASE_QUEUED: MigrationPhase
MIGRATION_PHASE_PREPARING: MigrationPhase
MIGRATION_PHASE_RUNNING: MigrationPhase
MIGRATION_PHASE_COMPLETED: MigrationPhase
MIGRATION_PHASE_FAILED: MigrationPhase
MIGRATION_PHASE_CANCELLED: MigrationPhase
FALLBACK_REASON_UNSPECIFIED: FallbackReason
FALLBACK_REASON_NO_MIGRATION_NETWORK: FallbackReason
FALLBACK_REASON_DESTINATION_NOT_ATTACHED: FallbackReason
FALLBACK_REASON_DESTINATION_LINK_DOWN: FallbackReason
FALLBACK_REASON_SOURCE_LINK_DOWN: FallbackReason
FALLBACK_REASON_NO_ADDRESS: FallbackReason
FALLBACK_REASON_LEGACY_CLUSTER: FallbackReason
FALLBACK_REASON_SOURCE_NOT_ATTACHED: FallbackReason
MIGRATION_MODE_UNSPECIFIED: MigrationMode
MIGRATION_MODE_LIVE: MigrationMode
MIGRATION_MODE_HIBERNATE: MigrationMode
VM_STATE_UNSPECIFIED: VmState
VM_STATE_RUNNING: VmState
VM_STATE_PAUSED: VmState
VM_STATE_SHUT_OFF: VmState
VM_STATE_MIGRATING: VmState
VM_STATE_CRASHED: VmState
VM_STATE_SAVED: VmState
CONVERGENCE_ACTION_UNSPECIFIED: ConvergenceAction
CONVERGENCE_ACTION_SET_DOWNTIME: ConvergenceAction
CONVERGENCE_ACTION_POST_COPY: ConvergenceAction
CONVERGENCE_ACTION_ABORT: ConvergenceAction
DISK_KIND_UNSPECIFIED: DiskKind
DISK_KIND_SHARED: DiskKind
DISK_KIND_LOCAL: DiskKind

class ConvergenceStep(_message.Message):
    __slots__ = ("stalled_iterations", "action", "downtime")
    STALLED_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DOWNTIME_FIELD_NUMBER: _ClassVar[int]
    stalled_iterations: int
    action: ConvergenceAction
    downtime: _duration_pb2.Duration
    def __init__(self, stalled_iterations: _Optional[int] = ..., action: _Optional[_Union[ConvergenceAction, str]] = ..., downtime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ConvergenceSchedule(_message.Message):
    __slots__ = ("initial_downtime", "stalling")
    INITIAL_DOWNTIME_FIELD_NUMBER: _ClassVar[int]
    STALLING_FIELD_NUMBER: _ClassVar[int]
    initial_downtime: _duration_pb2.Duration
    stalling: _containers.RepeatedCompositeFieldContainer[ConvergenceStep]
    def __init__(self, initial_downtime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., stalling: _Optional[_Iterable[_Union[ConvergenceStep, _Mapping]]] = ...) -> None: ...

class VmDisk(_message.Message):
    __slots__ = ("target", "kind", "size_bytes", "format", "source")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    target: str
    kind: DiskKind
    size_bytes: int
    format: str
    source: str
    def __init__(self, target: _Optional[str] = ..., kind: _Optional[_Union[DiskKind, str]] = ..., size_bytes: _Optional[int] = ..., format: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class VmNic(_message.Message):
    __slots__ = ("network", "mac")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    network: str
    mac: str
    def __init__(self, network: _Optional[str] = ..., mac: _Optional[str] = ...) -> None: ...

class Nic(_message.Message):
    __slots__ = ("name", "mac", "addresses", "link_up", "speed_mbit_per_second", "mtu", "rx_bytes", "tx_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    LINK_UP_FIELD_NUMBER: _ClassVar[int]
    SPEED_MBIT_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    mac: str
    addresses: _containers.RepeatedScalarFieldContainer[str]
    link_up: bool
    speed_mbit_per_second: int
    mtu: int
    rx_bytes: int
    tx_bytes: int
    def __init__(self, name: _Optional[str] = ..., mac: _Optional[str] = ..., addresses: _Optional[_Iterable[str]] = ..., link_up: _Optional[bool] = ..., speed_mbit_per_second: _Optional[int] = ..., mtu: _Optional[int] = ..., rx_bytes: _Optional[int] = ..., tx_bytes: _Optional[int] = ...) -> None: ...
