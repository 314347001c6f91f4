import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from miglane.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MigrationFailureKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MIGRATION_FAILURE_KIND_UNSPECIFIED: _ClassVar[MigrationFailureKind]
    MIGRATION_FAILURE_KIND_CANCELLED: _ClassVar[MigrationFailureKind]
    MIGRATION_FAILURE_KIND_NOT_CONVERGING: _ClassVar[MigrationFailureKind]
    MIGRATION_FAILURE_KIND_DESTINATION: _ClassVar[MigrationFailureKind]
    MIGRATION_FAILURE_KIND_NETWORK: _ClassVar[MigrationFailureKind]
    MIGRATION_FAILURE_KIND_OTHER: _ClassVar[MigrationFailureKind]
MIGRATION_FAILURE_KIND_UNSPECIFIED: MigrationFailureKind
MIGRATION_FAILURE_KIND_CANCELLED: MigrationFailureKind
MIGRATION_FAILURE_KIND_NOT_CONVERGING: MigrationFailureKind
MIGRATION_FAILURE_KIND_DESTINATION: MigrationFailureKind
MIGRATION_FAILURE_KIND_NETWORK: MigrationFailureKind
MIGRATION_FAILURE_KIND_OTHER: MigrationFailureKind

class WatchHostRequest(_message.Message):
    __slots__ = ("interval_ms",)
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    interval_ms: int
    def __init__(self, interval_ms: _Optional[int] = ...) -> None: ...

class WatchHostResponse(_message.Message):
    __slots__ = ("capabilities", "vms", "unchanged")
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    VMS_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    capabilities: GetCapabilitiesResponse
    vms: _containers.RepeatedCompositeFieldContainer[AgentVm]
    unchanged: bool
    def __init__(self, capabilities: _Optional[_Union[GetCapabilitiesResponse, _Mapping]] = ..., vms: _Optional[_Iterable[_Union[AgentVm, _Mapping]]] = ..., unchanged: _Optional[bool] = ...) -> None: ...

class GetCapabilitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCapabilitiesResponse(_message.Message):
    __slots__ = ("host_uuid", "hostname", "libvirt_version", "qemu_version", "cpu_count", "memory_mib", "free_memory_mib", "peer_libvirt_uri", "nics", "agent_version", "max_outgoing_migration_count", "running_outgoing_migration_count")
    HOST_UUID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    LIBVIRT_VERSION_FIELD_NUMBER: _ClassVar[int]
    QEMU_VERSION_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    FREE_MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    PEER_LIBVIRT_URI_FIELD_NUMBER: _ClassVar[int]
    NICS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTGOING_MIGRATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    RUNNING_OUTGOING_MIGRATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    host_uuid: str
    hostname: str
    libvirt_version: str
    qemu_version: str
    cpu_count: int
    memory_mib: int
    free_memory_mib: int
    peer_libvirt_uri: str
    nics: _containers.RepeatedCompositeFieldContainer[_common_pb2.Nic]
    agent_version: str
    max_outgoing_migration_count: int
    running_outgoing_migration_count: int
    def __init__(self, host_uuid: _Optional[str] = ..., hostname: _Optional[str] = ..., libvirt_version: _Optional[str] = ..., qemu_version: _Optional[str] = ..., cpu_count: _Optional[int] = ..., memory_mib: _Optional[int] = ..., free_memory_mib: _Optional[int] = ..., peer_libvirt_uri: _Optional[str] = ..., nics: _Optional[_Iterable[_Union[_common_pb2.Nic, _Mapping]]] = ..., agent_version: _Optional[str] = ..., max_outgoing_migration_count: _Optional[int] = ..., running_outgoing_migration_count: _Optional[int] = ...) -> None: ...

class AgentVm(_message.Message):
    __slots__ = ("id", "name", "state", "memory_mib", "migration_id", "disks", "nics", "dirty_rate_bytes_per_second", "dirty_rate_measured_at", "dirty_working_set_bytes")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    DISKS_FIELD_NUMBER: _ClassVar[int]
    NICS_FIELD_NUMBER: _ClassVar[int]
    DIRTY_RATE_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    DIRTY_RATE_MEASURED_AT_FIELD_NUMBER: _ClassVar[int]
    DIRTY_WORKING_SET_BYTES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    state: _common_pb2.VmState
    memory_mib: int
    migration_id: str
    disks: _containers.RepeatedCompositeFieldContainer[_common_pb2.VmDisk]
    nics: _containers.RepeatedCompositeFieldContainer[_common_pb2.VmNic]
    dirty_rate_bytes_per_second: int
    dirty_rate_measured_at: _timestamp_pb2.Timestamp
    dirty_working_set_bytes: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.VmState, str]] = ..., memory_mib: _Optional[int] = ..., migration_id: _Optional[str] = ..., disks: _Optional[_Iterable[_Union[_common_pb2.VmDisk, _Mapping]]] = ..., nics: _Optional[_Iterable[_Union[_common_pb2.VmNic, _Mapping]]] = ..., dirty_rate_bytes_per_second: _Optional[int] = ..., dirty_rate_measured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dirty_working_set_bytes: _Optional[int] = ...) -> None: ...

class ListVmsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVmsResponse(_message.Message):
    __slots__ = ("vms",)
    VMS_FIELD_NUMBER: _ClassVar[int]
    vms: _containers.RepeatedCompositeFieldContainer[AgentVm]
    def __init__(self, vms: _Optional[_Iterable[_Union[AgentVm, _Mapping]]] = ...) -> None: ...

class LiveTarget(_message.Message):
    __slots__ = ("dst", "migration_uri")
    DST_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_URI_FIELD_NUMBER: _ClassVar[int]
    dst: str
    migration_uri: str
    def __init__(self, dst: _Optional[str] = ..., migration_uri: _Optional[str] = ...) -> None: ...

class HibernationTarget(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class MigrateRequest(_message.Message):
    __slots__ = ("migration_id", "vm_id", "live", "hibernation", "max_bandwidth_mib_per_second", "encrypted", "compressed", "auto_converge", "parallel_connections", "convergence_schedule", "no_progress_timeout", "completion_timeout_per_gib", "post_copy_allowed", "copy_local_disks", "disks_uri")
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    HIBERNATION_FIELD_NUMBER: _ClassVar[int]
    MAX_BANDWIDTH_MIB_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_FIELD_NUMBER: _ClassVar[int]
    AUTO_CONVERGE_FIELD_NUMBER: _ClassVar[int]
    PARALLEL_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERGENCE_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    NO_PROGRESS_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TIMEOUT_PER_GIB_FIELD_NUMBER: _ClassVar[int]
    POST_COPY_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    COPY_LOCAL_DISKS_FIELD_NUMBER: _ClassVar[int]
    DISKS_URI_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    vm_id: str
    live: LiveTarget
    hibernation: HibernationTarget
    max_bandwidth_mib_per_second: int
    encrypted: bool
    compressed: bool
    auto_converge: bool
    parallel_connections: int
    convergence_schedule: _common_pb2.ConvergenceSchedule
    no_progress_timeout: _duration_pb2.Duration
    completion_timeout_per_gib: _duration_pb2.Duration
    post_copy_allowed: bool
    copy_local_disks: bool
    disks_uri: str
    def __init__(self, migration_id: _Optional[str] = ..., vm_id: _Optional[str] = ..., live: _Optional[_Union[LiveTarget, _Mapping]] = ..., hibernation: _Optional[_Union[HibernationTarget, _Mapping]] = ..., max_bandwidth_mib_per_second: _Optional[int] = ..., encrypted: _Optional[bool] = ..., compressed: _Optional[bool] = ..., auto_converge: _Optional[bool] = ..., parallel_connections: _Optional[int] = ..., convergence_schedule: _Optional[_Union[_common_pb2.ConvergenceSchedule, _Mapping]] = ..., no_progress_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., completion_timeout_per_gib: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., post_copy_allowed: _Optional[bool] = ..., copy_local_disks: _Optional[bool] = ..., disks_uri: _Optional[str] = ...) -> None: ...

class MigrateResponse(_message.Message):
    __slots__ = ("progress",)
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    progress: MigrationProgress
    def __init__(self, progress: _Optional[_Union[MigrationProgress, _Mapping]] = ...) -> None: ...

class MigrateCancelRequest(_message.Message):
    __slots__ = ("migration_id",)
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    def __init__(self, migration_id: _Optional[str] = ...) -> None: ...

class MigrateCancelResponse(_message.Message):
    __slots__ = ("progress",)
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    progress: MigrationProgress
    def __init__(self, progress: _Optional[_Union[MigrationProgress, _Mapping]] = ...) -> None: ...

class MigrateChangeParamsRequest(_message.Message):
    __slots__ = ("migration_id", "max_bandwidth_mib_per_second", "max_downtime")
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_BANDWIDTH_MIB_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    MAX_DOWNTIME_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    max_bandwidth_mib_per_second: int
    max_downtime: _duration_pb2.Duration
    def __init__(self, migration_id: _Optional[str] = ..., max_bandwidth_mib_per_second: _Optional[int] = ..., max_downtime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class MigrateChangeParamsResponse(_message.Message):
    __slots__ = ("progress",)
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    progress: MigrationProgress
    def __init__(self, progress: _Optional[_Union[MigrationProgress, _Mapping]] = ...) -> None: ...

class GetMigrationStatusRequest(_message.Message):
    __slots__ = ("migration_id",)
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    def __init__(self, migration_id: _Optional[str] = ...) -> None: ...

class GetMigrationStatusResponse(_message.Message):
    __slots__ = ("progress",)
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    progress: MigrationProgress
    def __init__(self, progress: _Optional[_Union[MigrationProgress, _Mapping]] = ...) -> None: ...

class ListMigrationJobsRequest(_message.Message):
    __slots__ = ("include_finished",)
    INCLUDE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    include_finished: bool
    def __init__(self, include_finished: _Optional[bool] = ...) -> None: ...

class ListMigrationJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[MigrationProgress]
    def __init__(self, jobs: _Optional[_Iterable[_Union[MigrationProgress, _Mapping]]] = ...) -> None: ...

class WatchMigrationProgressRequest(_message.Message):
    __slots__ = ("migration_id",)
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    def __init__(self, migration_id: _Optional[str] = ...) -> None: ...

class WatchMigrationProgressResponse(_message.Message):
    __slots__ = ("progress",)
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    progress: MigrationProgress
    def __init__(self, progress: _Optional[_Union[MigrationProgress, _Mapping]] = ...) -> None: ...

class RestoreRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class RestoreResponse(_message.Message):
    __slots__ = ("vm",)
    VM_FIELD_NUMBER: _ClassVar[int]
    vm: AgentVm
    def __init__(self, vm: _Optional[_Union[AgentVm, _Mapping]] = ...) -> None: ...

class MigrationProgress(_message.Message):
    __slots__ = ("migration_id", "vm_id", "mode", "phase", "progress_percent", "data_total_bytes", "data_processed_bytes", "data_remaining_bytes", "throughput_bytes_per_second", "dirty_rate_bytes_per_second", "iteration", "downtime", "max_downtime", "max_bandwidth_mib_per_second", "post_copy", "error", "failure_kind", "observed_at", "started_at", "finished_at", "migration_uri", "dst", "eta", "elapsed", "disk_total_bytes", "disk_processed_bytes", "disk_remaining_bytes", "nic_tx_bytes")
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DATA_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_PROCESSED_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_REMAINING_BYTES_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    DIRTY_RATE_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ITERATION_FIELD_NUMBER: _ClassVar[int]
    DOWNTIME_FIELD_NUMBER: _ClassVar[int]
    MAX_DOWNTIME_FIELD_NUMBER: _ClassVar[int]
    MAX_BANDWIDTH_MIB_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    POST_COPY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILURE_KIND_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_URI_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_PROCESSED_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_REMAINING_BYTES_FIELD_NUMBER: _ClassVar[int]
    NIC_TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    vm_id: str
    mode: _common_pb2.MigrationMode
    phase: _common_pb2.MigrationPhase
    progress_percent: int
    data_total_bytes: int
    data_processed_bytes: int
    data_remaining_bytes: int
    throughput_bytes_per_second: int
    dirty_rate_bytes_per_second: int
    iteration: int
    downtime: _duration_pb2.Duration
    max_downtime: _duration_pb2.Duration
    max_bandwidth_mib_per_second: int
    post_copy: bool
    error: str
    failure_kind: MigrationFailureKind
    observed_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    migration_uri: str
    dst: str
    eta: _duration_pb2.Duration
    elapsed: _duration_pb2.Duration
    disk_total_bytes: int
    disk_processed_bytes: int
    disk_remaining_bytes: int
    nic_tx_bytes: _containers.RepeatedCompositeFieldContainer[NicTransmitted]
    def __init__(self, migration_id: _Optional[str] = ..., vm_id: _Optional[str] = ..., mode: _Optional[_Union[_common_pb2.MigrationMode, str]] = ..., phase: _Optional[_Union[_common_pb2.MigrationPhase, str]] = ..., progress_percent: _Optional[int] = ..., data_total_bytes: _Optional[int] = ..., data_processed_bytes: _Optional[int] = ..., data_remaining_bytes: _Optional[int] = ..., throughput_bytes_per_second: _Optional[int] = ..., dirty_rate_bytes_per_second: _Optional[int] = ..., iteration: _Optional[int] = ..., downtime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_downtime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_bandwidth_mib_per_second: _Optional[int] = ..., post_copy: _Optional[bool] = ..., error: _Optional[str] = ..., failure_kind: _Optional[_Union[MigrationFailureKind, str]] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., migration_uri: _Optional[str] = ..., dst: _Optional[str] = ..., eta: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., disk_total_bytes: _Optional[int] = ..., disk_processed_bytes: _Optional[int] = ..., disk_remaining_bytes: _Optional[int] = ..., nic_tx_bytes: _Optional[_Iterable[_Union[NicTransmitted, _Mapping]]] = ...) -> None: ...

class NicTransmitted(_message.Message):
    __slots__ = ("nic", "tx_bytes")
    NIC_FIELD_NUMBER: _ClassVar[int]
    TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    nic: str
    tx_bytes: int
    def __init__(self, nic: _Optional[str] = ..., tx_bytes: _Optional[int] = ...) -> None: ...
