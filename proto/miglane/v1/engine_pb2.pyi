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

class BandwidthMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BANDWIDTH_MODE_UNSPECIFIED: _ClassVar[BandwidthMode]
    BANDWIDTH_MODE_AUTO: _ClassVar[BandwidthMode]
    BANDWIDTH_MODE_HYPERVISOR_DEFAULT: _ClassVar[BandwidthMode]
    BANDWIDTH_MODE_CUSTOM: _ClassVar[BandwidthMode]

class ConvergencePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERGENCE_POLICY_UNSPECIFIED: _ClassVar[ConvergencePolicy]
    CONVERGENCE_POLICY_MINIMAL_DOWNTIME: _ClassVar[ConvergencePolicy]
    CONVERGENCE_POLICY_SUSPEND_WORKLOAD_IF_NEEDED: _ClassVar[ConvergencePolicy]
    CONVERGENCE_POLICY_POST_COPY: _ClassVar[ConvergencePolicy]

class HostStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOST_STATUS_UNSPECIFIED: _ClassVar[HostStatus]
    HOST_STATUS_UP: _ClassVar[HostStatus]
    HOST_STATUS_NON_OPERATIONAL: _ClassVar[HostStatus]
    HOST_STATUS_UNREACHABLE: _ClassVar[HostStatus]
    HOST_STATUS_MAINTENANCE: _ClassVar[HostStatus]
    HOST_STATUS_PREPARING_FOR_MAINTENANCE: _ClassVar[HostStatus]

class MigrationPriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MIGRATION_PRIORITY_UNSPECIFIED: _ClassVar[MigrationPriority]
    MIGRATION_PRIORITY_LOW: _ClassVar[MigrationPriority]
    MIGRATION_PRIORITY_NORMAL: _ClassVar[MigrationPriority]
    MIGRATION_PRIORITY_HIGH: _ClassVar[MigrationPriority]

class PathVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PATH_VERDICT_UNSPECIFIED: _ClassVar[PathVerdict]
    PATH_VERDICT_CONFIRMED: _ClassVar[PathVerdict]
    PATH_VERDICT_OFF_PATH: _ClassVar[PathVerdict]
    PATH_VERDICT_TOO_LITTLE_DATA: _ClassVar[PathVerdict]

class ConvergenceVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERGENCE_VERDICT_UNSPECIFIED: _ClassVar[ConvergenceVerdict]
    CONVERGENCE_VERDICT_CONVERGES: _ClassVar[ConvergenceVerdict]
    CONVERGENCE_VERDICT_CONVERGES_ONLY_WITH_HELP: _ClassVar[ConvergenceVerdict]
    CONVERGENCE_VERDICT_NEVER_CONVERGES: _ClassVar[ConvergenceVerdict]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_CLUSTER_CREATED: _ClassVar[EventType]
    EVENT_TYPE_CLUSTER_UPDATED: _ClassVar[EventType]
    EVENT_TYPE_CLUSTER_DELETED: _ClassVar[EventType]
    EVENT_TYPE_NETWORK_CREATED: _ClassVar[EventType]
    EVENT_TYPE_NETWORK_UPDATED: _ClassVar[EventType]
    EVENT_TYPE_NETWORK_DELETED: _ClassVar[EventType]
    EVENT_TYPE_ROLE_GRANTED: _ClassVar[EventType]
    EVENT_TYPE_ROLE_TAKEN: _ClassVar[EventType]
    EVENT_TYPE_ROLE_MOVED: _ClassVar[EventType]
    EVENT_TYPE_HOST_ADDED: _ClassVar[EventType]
    EVENT_TYPE_HOST_REMOVED: _ClassVar[EventType]
    EVENT_TYPE_HOST_STATUS_CHANGED: _ClassVar[EventType]
    EVENT_TYPE_MIGRATION_QUEUED: _ClassVar[EventType]
    EVENT_TYPE_MIGRATION_STARTED: _ClassVar[EventType]
    EVENT_TYPE_MIGRATION_FELL_BACK: _ClassVar[EventType]
    EVENT_TYPE_MIGRATION_COMPLETED: _ClassVar[EventType]
    EVENT_TYPE_MIGRATION_FAILED: _ClassVar[EventType]
    EVENT_TYPE_MIGRATION_CANCELLED: _ClassVar[EventType]
    EVENT_TYPE_MIGRATION_RERUN: _ClassVar[EventType]
    EVENT_TYPE_VM_UNPLACED: _ClassVar[EventType]
    EVENT_TYPE_CERTIFICATE_EXPIRING: _ClassVar[EventType]
    EVENT_TYPE_MIGRATION_OFF_PATH: _ClassVar[EventType]
    EVENT_TYPE_VM_PRIORITY_CHANGED: _ClassVar[EventType]

class EventSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_SEVERITY_UNSPECIFIED: _ClassVar[EventSeverity]
    EVENT_SEVERITY_INFO: _ClassVar[EventSeverity]
    EVENT_SEVERITY_WARNING: _ClassVar[EventSeverity]
    EVENT_SEVERITY_ERROR: _ClassVar[EventSeverity]
BANDWIDTH_MODE_UNSPECIFIED: BandwidthMode
BANDWIDTH_MODE_AUTO: BandwidthMode
BANDWIDTH_MODE_HYPERVISOR_DEFAULT: BandwidthMode
BANDWIDTH_MODE_CUSTOM: BandwidthMode
CONVERGENCE_POLICY_UNSPECIFIED: ConvergencePolicy
CONVERGENCE_POLICY_MINIMAL_DOWNTIME: ConvergencePolicy
CONVERGENCE_POLICY_SUSPEND_WORKLOAD_IF_NEEDED: ConvergencePolicy
CONVERGENCE_POLICY_POST_COPY: ConvergencePolicy
HOST_STATUS_UNSPECIFIED: HostStatus
HOST_STATUS_UP: HostStatus
HOST_STATUS_NON_OPERATIONAL: HostStatus
HOST_STATUS_UNREACHABLE: HostStatus
HOST_STATUS_MAINTENANCE: HostStatus
HOST_STATUS_PREPARING_FOR_MAINTENANCE: HostStatus
MIGRATION_PRIORITY_UNSPECIFIED: MigrationPriority
MIGRATION_PRIORITY_LOW: MigrationPriority
MIGRATION_PRIORITY_NORMAL: MigrationPriority
MIGRATION_PRIORITY_HIGH: MigrationPriority
PATH_VERDICT_UNSPECIFIED: PathVerdict
PATH_VERDICT_CONFIRMED: PathVerdict
PATH_VERDICT_OFF_PATH: PathVerdict
PATH_VERDICT_TOO_LITTLE_DATA: PathVerdict
CONVERGENCE_VERDICT_UNSPECIFIED: ConvergenceVerdict
CONVERGENCE_VERDICT_CONVERGES: ConvergenceVerdict
CONVERGENCE_VERDICT_CONVERGES_ONLY_WITH_HELP: ConvergenceVerdict
CONVERGENCE_VERDICT_NEVER_CONVERGES: ConvergenceVerdict
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_CLUSTER_CREATED: EventType
EVENT_TYPE_CLUSTER_UPDATED: EventType
EVENT_TYPE_CLUSTER_DELETED: EventType
EVENT_TYPE_NETWORK_CREATED: EventType
EVENT_TYPE_NETWORK_UPDATED: EventType
EVENT_TYPE_NETWORK_DELETED: EventType
EVENT_TYPE_ROLE_GRANTED: EventType
EVENT_TYPE_ROLE_TAKEN: EventType
EVENT_TYPE_ROLE_MOVED: EventType
EVENT_TYPE_HOST_ADDED: EventType
EVENT_TYPE_HOST_REMOVED: EventType
EVENT_TYPE_HOST_STATUS_CHANGED: EventType
EVENT_TYPE_MIGRATION_QUEUED: EventType
EVENT_TYPE_MIGRATION_STARTED: EventType
EVENT_TYPE_MIGRATION_FELL_BACK: EventType
EVENT_TYPE_MIGRATION_COMPLETED: EventType
EVENT_TYPE_MIGRATION_FAILED: EventType
EVENT_TYPE_MIGRATION_CANCELLED: EventType
EVENT_TYPE_MIGRATION_RERUN: EventType
EVENT_TYPE_VM_UNPLACED: EventType
EVENT_TYPE_CERTIFICATE_EXPIRING: EventType
EVENT_TYPE_MIGRATION_OFF_PATH: EventType
EVENT_TYPE_VM_PRIORITY_CHANGED: EventType
EVENT_SEVERITY_UNSPECIFIED: EventSeverity
EVENT_SEVERITY_INFO: EventSeverity
EVENT_SEVERITY_WARNING: EventSeverity
EVENT_SEVERITY_ERROR: EventSeverity

class MigrationPolicy(_message.Message):
    __slots__ = ("bandwidth_mode", "custom_mib_per_second", "max_outgoing_per_host", "max_incoming_per_host", "max_concurrent_per_cluster", "convergence", "encrypted", "compressed", "auto_converge", "parallel_connections", "no_progress_timeout", "completion_timeout_per_gib", "local_disk_migration", "local_disk_bandwidth_percent", "management_migration_budget_mbit_per_second")
    BANDWIDTH_MODE_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_MIB_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTGOING_PER_HOST_FIELD_NUMBER: _ClassVar[int]
    MAX_INCOMING_PER_HOST_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_PER_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    CONVERGENCE_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_FIELD_NUMBER: _ClassVar[int]
    AUTO_CONVERGE_FIELD_NUMBER: _ClassVar[int]
    PARALLEL_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    NO_PROGRESS_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TIMEOUT_PER_GIB_FIELD_NUMBER: _ClassVar[int]
    LOCAL_DISK_MIGRATION_FIELD_NUMBER: _ClassVar[int]
    LOCAL_DISK_BANDWIDTH_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_MIGRATION_BUDGET_MBIT_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    bandwidth_mode: BandwidthMode
    custom_mib_per_second: int
    max_outgoing_per_host: int
    max_incoming_per_host: int
    max_concurrent_per_cluster: int
    convergence: ConvergencePolicy
    encrypted: bool
    compressed: bool
    auto_converge: bool
    parallel_connections: int
    no_progress_timeout: _duration_pb2.Duration
    completion_timeout_per_gib: _duration_pb2.Duration
    local_disk_migration: bool
    local_disk_bandwidth_percent: int
    management_migration_budget_mbit_per_second: int
    def __init__(self, bandwidth_mode: _Optional[_Union[BandwidthMode, str]] = ..., custom_mib_per_second: _Optional[int] = ..., max_outgoing_per_host: _Optional[int] = ..., max_incoming_per_host: _Optional[int] = ..., max_concurrent_per_cluster: _Optional[int] = ..., convergence: _Optional[_Union[ConvergencePolicy, str]] = ..., encrypted: _Optional[bool] = ..., compressed: _Optional[bool] = ..., auto_converge: _Optional[bool] = ..., parallel_connections: _Optional[int] = ..., no_progress_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., completion_timeout_per_gib: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., local_disk_migration: _Optional[bool] = ..., local_disk_bandwidth_percent: _Optional[int] = ..., management_migration_budget_mbit_per_second: _Optional[int] = ...) -> None: ...

class Cluster(_message.Message):
    __slots__ = ("id", "name", "compatibility_version", "policy", "description", "created_at", "migration_network_id", "management_network_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMPATIBILITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    compatibility_version: str
    policy: MigrationPolicy
    description: str
    created_at: _timestamp_pb2.Timestamp
    migration_network_id: str
    management_network_id: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., compatibility_version: _Optional[str] = ..., policy: _Optional[_Union[MigrationPolicy, _Mapping]] = ..., description: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., migration_network_id: _Optional[str] = ..., management_network_id: _Optional[str] = ...) -> None: ...

class CreateClusterRequest(_message.Message):
    __slots__ = ("name", "compatibility_version", "policy", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMPATIBILITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    compatibility_version: str
    policy: MigrationPolicy
    description: str
    def __init__(self, name: _Optional[str] = ..., compatibility_version: _Optional[str] = ..., policy: _Optional[_Union[MigrationPolicy, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class CreateClusterResponse(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: Cluster
    def __init__(self, cluster: _Optional[_Union[Cluster, _Mapping]] = ...) -> None: ...

class GetClusterRequest(_message.Message):
    __slots__ = ("cluster_id",)
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    def __init__(self, cluster_id: _Optional[str] = ...) -> None: ...

class GetClusterResponse(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: Cluster
    def __init__(self, cluster: _Optional[_Union[Cluster, _Mapping]] = ...) -> None: ...

class ListClustersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListClustersResponse(_message.Message):
    __slots__ = ("clusters", "next_page_token")
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    clusters: _containers.RepeatedCompositeFieldContainer[Cluster]
    next_page_token: str
    def __init__(self, clusters: _Optional[_Iterable[_Union[Cluster, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateClusterRequest(_message.Message):
    __slots__ = ("cluster_id", "name", "compatibility_version", "policy", "description")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMPATIBILITY_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    name: str
    compatibility_version: str
    policy: MigrationPolicy
    description: str
    def __init__(self, cluster_id: _Optional[str] = ..., name: _Optional[str] = ..., compatibility_version: _Optional[str] = ..., policy: _Optional[_Union[MigrationPolicy, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class UpdateClusterResponse(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: Cluster
    def __init__(self, cluster: _Optional[_Union[Cluster, _Mapping]] = ...) -> None: ...

class DeleteClusterRequest(_message.Message):
    __slots__ = ("cluster_id",)
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    def __init__(self, cluster_id: _Optional[str] = ...) -> None: ...

class DeleteClusterResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Network(_message.Message):
    __slots__ = ("id", "cluster_id", "name", "subnet", "required", "roles", "qos_mbit_per_second", "description", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    QOS_MBIT_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    cluster_id: str
    name: str
    subnet: str
    required: bool
    roles: _containers.RepeatedScalarFieldContainer[_common_pb2.NetworkRole]
    qos_mbit_per_second: int
    description: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., cluster_id: _Optional[str] = ..., name: _Optional[str] = ..., subnet: _Optional[str] = ..., required: _Optional[bool] = ..., roles: _Optional[_Iterable[_Union[_common_pb2.NetworkRole, str]]] = ..., qos_mbit_per_second: _Optional[int] = ..., description: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateNetworkRequest(_message.Message):
    __slots__ = ("cluster_id", "name", "subnet", "required", "roles", "qos_mbit_per_second", "description")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    QOS_MBIT_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    name: str
    subnet: str
    required: bool
    roles: _containers.RepeatedScalarFieldContainer[_common_pb2.NetworkRole]
    qos_mbit_per_second: int
    description: str
    def __init__(self, cluster_id: _Optional[str] = ..., name: _Optional[str] = ..., subnet: _Optional[str] = ..., required: _Optional[bool] = ..., roles: _Optional[_Iterable[_Union[_common_pb2.NetworkRole, str]]] = ..., qos_mbit_per_second: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class CreateNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: Network
    def __init__(self, network: _Optional[_Union[Network, _Mapping]] = ...) -> None: ...

class GetNetworkRequest(_message.Message):
    __slots__ = ("network_id",)
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    def __init__(self, network_id: _Optional[str] = ...) -> None: ...

class GetNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: Network
    def __init__(self, network: _Optional[_Union[Network, _Mapping]] = ...) -> None: ...

class ListNetworksRequest(_message.Message):
    __slots__ = ("cluster_id", "page_size", "page_token")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    page_size: int
    page_token: str
    def __init__(self, cluster_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListNetworksResponse(_message.Message):
    __slots__ = ("networks", "next_page_token")
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[Network]
    next_page_token: str
    def __init__(self, networks: _Optional[_Iterable[_Union[Network, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateNetworkRequest(_message.Message):
    __slots__ = ("network_id", "name", "subnet", "required", "qos_mbit_per_second", "description")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    QOS_MBIT_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    name: str
    subnet: str
    required: bool
    qos_mbit_per_second: int
    description: str
    def __init__(self, network_id: _Optional[str] = ..., name: _Optional[str] = ..., subnet: _Optional[str] = ..., required: _Optional[bool] = ..., qos_mbit_per_second: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class UpdateNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: Network
    def __init__(self, network: _Optional[_Union[Network, _Mapping]] = ...) -> None: ...

class DeleteNetworkRequest(_message.Message):
    __slots__ = ("network_id",)
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    def __init__(self, network_id: _Optional[str] = ...) -> None: ...

class DeleteNetworkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetNetworkRoleRequest(_message.Message):
    __slots__ = ("network_id", "role")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    role: _common_pb2.NetworkRole
    def __init__(self, network_id: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.NetworkRole, str]] = ...) -> None: ...

class SetNetworkRoleResponse(_message.Message):
    __slots__ = ("network", "previous_network_id")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    network: Network
    previous_network_id: str
    def __init__(self, network: _Optional[_Union[Network, _Mapping]] = ..., previous_network_id: _Optional[str] = ...) -> None: ...

class UnsetNetworkRoleRequest(_message.Message):
    __slots__ = ("network_id", "role")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    role: _common_pb2.NetworkRole
    def __init__(self, network_id: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.NetworkRole, str]] = ...) -> None: ...

class UnsetNetworkRoleResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: Network
    def __init__(self, network: _Optional[_Union[Network, _Mapping]] = ...) -> None: ...

class NetworkAttachment(_message.Message):
    __slots__ = ("network_id", "network_name", "nic", "address", "link_up", "speed_mbit_per_second", "mtu", "note")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_NAME_FIELD_NUMBER: _ClassVar[int]
    NIC_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LINK_UP_FIELD_NUMBER: _ClassVar[int]
    SPEED_MBIT_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    network_name: str
    nic: str
    address: str
    link_up: bool
    speed_mbit_per_second: int
    mtu: int
    note: str
    def __init__(self, network_id: _Optional[str] = ..., network_name: _Optional[str] = ..., nic: _Optional[str] = ..., address: _Optional[str] = ..., link_up: _Optional[bool] = ..., speed_mbit_per_second: _Optional[int] = ..., mtu: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class Host(_message.Message):
    __slots__ = ("id", "name", "cluster_id", "agent_address", "status", "status_reason", "attachments", "nics", "host_uuid", "hostname", "peer_libvirt_uri", "cpu_count", "memory_mib", "free_memory_mib", "outgoing_migration_count", "incoming_migration_count", "last_seen_at", "libvirt_version", "qemu_version", "certificate_not_after", "evacuation_vms_left", "evacuation_finish_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    NICS_FIELD_NUMBER: _ClassVar[int]
    HOST_UUID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PEER_LIBVIRT_URI_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    FREE_MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    OUTGOING_MIGRATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    INCOMING_MIGRATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    LIBVIRT_VERSION_FIELD_NUMBER: _ClassVar[int]
    QEMU_VERSION_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    EVACUATION_VMS_LEFT_FIELD_NUMBER: _ClassVar[int]
    EVACUATION_FINISH_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    cluster_id: str
    agent_address: str
    status: HostStatus
    status_reason: str
    attachments: _containers.RepeatedCompositeFieldContainer[NetworkAttachment]
    nics: _containers.RepeatedCompositeFieldContainer[_common_pb2.Nic]
    host_uuid: str
    hostname: str
    peer_libvirt_uri: str
    cpu_count: int
    memory_mib: int
    free_memory_mib: int
    outgoing_migration_count: int
    incoming_migration_count: int
    last_seen_at: _timestamp_pb2.Timestamp
    libvirt_version: str
    qemu_version: str
    certificate_not_after: _timestamp_pb2.Timestamp
    evacuation_vms_left: int
    evacuation_finish_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., cluster_id: _Optional[str] = ..., agent_address: _Optional[str] = ..., status: _Optional[_Union[HostStatus, str]] = ..., status_reason: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[NetworkAttachment, _Mapping]]] = ..., nics: _Optional[_Iterable[_Union[_common_pb2.Nic, _Mapping]]] = ..., host_uuid: _Optional[str] = ..., hostname: _Optional[str] = ..., peer_libvirt_uri: _Optional[str] = ..., cpu_count: _Optional[int] = ..., memory_mib: _Optional[int] = ..., free_memory_mib: _Optional[int] = ..., outgoing_migration_count: _Optional[int] = ..., incoming_migration_count: _Optional[int] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., libvirt_version: _Optional[str] = ..., qemu_version: _Optional[str] = ..., certificate_not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evacuation_vms_left: _Optional[int] = ..., evacuation_finish_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AddHostRequest(_message.Message):
    __slots__ = ("cluster_id", "name", "agent_address")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    name: str
    agent_address: str
    def __init__(self, cluster_id: _Optional[str] = ..., name: _Optional[str] = ..., agent_address: _Optional[str] = ...) -> None: ...

class AddHostResponse(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: Host
    def __init__(self, host: _Optional[_Union[Host, _Mapping]] = ...) -> None: ...

class GetHostRequest(_message.Message):
    __slots__ = ("host_id",)
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    def __init__(self, host_id: _Optional[str] = ...) -> None: ...

class GetHostResponse(_message.Message):
    __slots__ = ("host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    host: Host
    def __init__(self, host: _Optional[_Union[Host, _Mapping]] = ...) -> None: ...

class ListHostsRequest(_message.Message):
    __slots__ = ("cluster_id", "page_size", "page_token")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    page_size: int
    page_token: str
    def __init__(self, cluster_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListHostsResponse(_message.Message):
    __slots__ = ("hosts", "next_page_token")
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[Host]
    next_page_token: str
    def __init__(self, hosts: _Optional[_Iterable[_Union[Host, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RemoveHostRequest(_message.Message):
    __slots__ = ("host_id",)
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    def __init__(self, host_id: _Optional[str] = ...) -> None: ...

class RemoveHostResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetHostMaintenanceRequest(_message.Message):
    __slots__ = ("host_id", "enabled")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    enabled: bool
    def __init__(self, host_id: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class UnplacedVm(_message.Message):
    __slots__ = ("vm_id", "vm_name", "reason")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    VM_NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    vm_name: str
    reason: str
    def __init__(self, vm_id: _Optional[str] = ..., vm_name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SetHostMaintenanceResponse(_message.Message):
    __slots__ = ("host", "migrations", "unplaced")
    HOST_FIELD_NUMBER: _ClassVar[int]
    MIGRATIONS_FIELD_NUMBER: _ClassVar[int]
    UNPLACED_FIELD_NUMBER: _ClassVar[int]
    host: Host
    migrations: _containers.RepeatedCompositeFieldContainer[Migration]
    unplaced: _containers.RepeatedCompositeFieldContainer[UnplacedVm]
    def __init__(self, host: _Optional[_Union[Host, _Mapping]] = ..., migrations: _Optional[_Iterable[_Union[Migration, _Mapping]]] = ..., unplaced: _Optional[_Iterable[_Union[UnplacedVm, _Mapping]]] = ...) -> None: ...

class Vm(_message.Message):
    __slots__ = ("id", "name", "host_id", "cluster_id", "state", "memory_mib", "migration_id", "disks", "nics", "dirty_rate_bytes_per_second", "dirty_rate_measured_at", "dirty_rate_history", "migration_priority", "dirty_working_set_bytes")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    DISKS_FIELD_NUMBER: _ClassVar[int]
    NICS_FIELD_NUMBER: _ClassVar[int]
    DIRTY_RATE_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    DIRTY_RATE_MEASURED_AT_FIELD_NUMBER: _ClassVar[int]
    DIRTY_RATE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DIRTY_WORKING_SET_BYTES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    host_id: str
    cluster_id: str
    state: _common_pb2.VmState
    memory_mib: int
    migration_id: str
    disks: _containers.RepeatedCompositeFieldContainer[_common_pb2.VmDisk]
    nics: _containers.RepeatedCompositeFieldContainer[_common_pb2.VmNic]
    dirty_rate_bytes_per_second: int
    dirty_rate_measured_at: _timestamp_pb2.Timestamp
    dirty_rate_history: _containers.RepeatedCompositeFieldContainer[DirtyRateSample]
    migration_priority: MigrationPriority
    dirty_working_set_bytes: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., host_id: _Optional[str] = ..., cluster_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.VmState, str]] = ..., memory_mib: _Optional[int] = ..., migration_id: _Optional[str] = ..., disks: _Optional[_Iterable[_Union[_common_pb2.VmDisk, _Mapping]]] = ..., nics: _Optional[_Iterable[_Union[_common_pb2.VmNic, _Mapping]]] = ..., dirty_rate_bytes_per_second: _Optional[int] = ..., dirty_rate_measured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dirty_rate_history: _Optional[_Iterable[_Union[DirtyRateSample, _Mapping]]] = ..., migration_priority: _Optional[_Union[MigrationPriority, str]] = ..., dirty_working_set_bytes: _Optional[int] = ...) -> None: ...

class SetVmMigrationPriorityRequest(_message.Message):
    __slots__ = ("vm_id", "priority")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    priority: MigrationPriority
    def __init__(self, vm_id: _Optional[str] = ..., priority: _Optional[_Union[MigrationPriority, str]] = ...) -> None: ...

class SetVmMigrationPriorityResponse(_message.Message):
    __slots__ = ("vm",)
    VM_FIELD_NUMBER: _ClassVar[int]
    vm: Vm
    def __init__(self, vm: _Optional[_Union[Vm, _Mapping]] = ...) -> None: ...

class DirtyRateSample(_message.Message):
    __slots__ = ("bytes_per_second", "measured_at", "working_set_bytes")
    BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    MEASURED_AT_FIELD_NUMBER: _ClassVar[int]
    WORKING_SET_BYTES_FIELD_NUMBER: _ClassVar[int]
    bytes_per_second: int
    measured_at: _timestamp_pb2.Timestamp
    working_set_bytes: int
    def __init__(self, bytes_per_second: _Optional[int] = ..., measured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., working_set_bytes: _Optional[int] = ...) -> None: ...

class ListVmsRequest(_message.Message):
    __slots__ = ("cluster_id", "host_id", "page_size", "page_token")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    host_id: str
    page_size: int
    page_token: str
    def __init__(self, cluster_id: _Optional[str] = ..., host_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVmsResponse(_message.Message):
    __slots__ = ("vms", "next_page_token")
    VMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    vms: _containers.RepeatedCompositeFieldContainer[Vm]
    next_page_token: str
    def __init__(self, vms: _Optional[_Iterable[_Union[Vm, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetVmRequest(_message.Message):
    __slots__ = ("vm_id",)
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    def __init__(self, vm_id: _Optional[str] = ...) -> None: ...

class GetVmResponse(_message.Message):
    __slots__ = ("vm",)
    VM_FIELD_NUMBER: _ClassVar[int]
    vm: Vm
    def __init__(self, vm: _Optional[_Union[Vm, _Mapping]] = ...) -> None: ...

class Migration(_message.Message):
    __slots__ = ("id", "vm_id", "source_host_id", "destination_host_id", "automatic", "phase", "progress_percent", "data_total_bytes", "data_processed_bytes", "data_remaining_bytes", "throughput_bytes_per_second", "dirty_rate_bytes_per_second", "iteration", "network_id", "migration_uri", "fallback_reason", "fallback_detail", "max_bandwidth_mib_per_second", "error", "created_at", "started_at", "finished_at", "downtime", "cluster_id", "vm_name", "queue_reason", "eta", "tried_host_ids", "evacuation_host_id", "post_copy", "disk_total_bytes", "disk_processed_bytes", "disk_remaining_bytes", "expected_finish_at", "verdict", "verdict_reason", "priority", "priority_overridden", "granted_bandwidth_mib_per_second", "path_proof")
    ID_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_HOST_ID_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_HOST_ID_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DATA_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_PROCESSED_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_REMAINING_BYTES_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    DIRTY_RATE_BYTES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ITERATION_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_URI_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_DETAIL_FIELD_NUMBER: _ClassVar[int]
    MAX_BANDWIDTH_MIB_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    DOWNTIME_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    VM_NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_REASON_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    TRIED_HOST_IDS_FIELD_NUMBER: _ClassVar[int]
    EVACUATION_HOST_ID_FIELD_NUMBER: _ClassVar[int]
    POST_COPY_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_PROCESSED_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_REMAINING_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FINISH_AT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_REASON_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_OVERRIDDEN_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BANDWIDTH_MIB_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    PATH_PROOF_FIELD_NUMBER: _ClassVar[int]
    id: str
    vm_id: str
    source_host_id: str
    destination_host_id: str
    automatic: bool
    phase: _common_pb2.MigrationPhase
    progress_percent: int
    data_total_bytes: int
    data_processed_bytes: int
    data_remaining_bytes: int
    throughput_bytes_per_second: int
    dirty_rate_bytes_per_second: int
    iteration: int
    network_id: str
    migration_uri: str
    fallback_reason: _common_pb2.FallbackReason
    fallback_detail: str
    max_bandwidth_mib_per_second: int
    error: str
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    downtime: _duration_pb2.Duration
    cluster_id: str
    vm_name: str
    queue_reason: str
    eta: _duration_pb2.Duration
    tried_host_ids: _containers.RepeatedScalarFieldContainer[str]
    evacuation_host_id: str
    post_copy: bool
    disk_total_bytes: int
    disk_processed_bytes: int
    disk_remaining_bytes: int
    expected_finish_at: _timestamp_pb2.Timestamp
    verdict: ConvergenceVerdict
    verdict_reason: str
    priority: MigrationPriority
    priority_overridden: bool
    granted_bandwidth_mib_per_second: int
    path_proof: MigrationPathProof
    def __init__(self, id: _Optional[str] = ..., vm_id: _Optional[str] = ..., source_host_id: _Optional[str] = ..., destination_host_id: _Optional[str] = ..., automatic: _Optional[bool] = ..., phase: _Optional[_Union[_common_pb2.MigrationPhase, str]] = ..., progress_percent: _Optional[int] = ..., data_total_bytes: _Optional[int] = ..., data_processed_bytes: _Optional[int] = ..., data_remaining_bytes: _Optional[int] = ..., throughput_bytes_per_second: _Optional[int] = ..., dirty_rate_bytes_per_second: _Optional[int] = ..., iteration: _Optional[int] = ..., network_id: _Optional[str] = ..., migration_uri: _Optional[str] = ..., fallback_reason: _Optional[_Union[_common_pb2.FallbackReason, str]] = ..., fallback_detail: _Optional[str] = ..., max_bandwidth_mib_per_second: _Optional[int] = ..., error: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., downtime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cluster_id: _Optional[str] = ..., vm_name: _Optional[str] = ..., queue_reason: _Optional[str] = ..., eta: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., tried_host_ids: _Optional[_Iterable[str]] = ..., evacuation_host_id: _Optional[str] = ..., post_copy: _Optional[bool] = ..., disk_total_bytes: _Optional[int] = ..., disk_processed_bytes: _Optional[int] = ..., disk_remaining_bytes: _Optional[int] = ..., expected_finish_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verdict: _Optional[_Union[ConvergenceVerdict, str]] = ..., verdict_reason: _Optional[str] = ..., priority: _Optional[_Union[MigrationPriority, str]] = ..., priority_overridden: _Optional[bool] = ..., granted_bandwidth_mib_per_second: _Optional[int] = ..., path_proof: _Optional[_Union[MigrationPathProof, _Mapping]] = ...) -> None: ...

class MigrationPathProof(_message.Message):
    __slots__ = ("verdict", "nic", "nic_tx_bytes", "data_bytes", "memory_bytes", "other_nic", "other_nic_tx_bytes", "summary")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    NIC_FIELD_NUMBER: _ClassVar[int]
    NIC_TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    OTHER_NIC_FIELD_NUMBER: _ClassVar[int]
    OTHER_NIC_TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    verdict: PathVerdict
    nic: str
    nic_tx_bytes: int
    data_bytes: int
    memory_bytes: int
    other_nic: str
    other_nic_tx_bytes: int
    summary: str
    def __init__(self, verdict: _Optional[_Union[PathVerdict, str]] = ..., nic: _Optional[str] = ..., nic_tx_bytes: _Optional[int] = ..., data_bytes: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., other_nic: _Optional[str] = ..., other_nic_tx_bytes: _Optional[int] = ..., summary: _Optional[str] = ...) -> None: ...

class MigrateVmRequest(_message.Message):
    __slots__ = ("vm_id", "destination_host_id", "max_bandwidth_mib_per_second", "priority")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_HOST_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_BANDWIDTH_MIB_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    destination_host_id: str
    max_bandwidth_mib_per_second: int
    priority: MigrationPriority
    def __init__(self, vm_id: _Optional[str] = ..., destination_host_id: _Optional[str] = ..., max_bandwidth_mib_per_second: _Optional[int] = ..., priority: _Optional[_Union[MigrationPriority, str]] = ...) -> None: ...

class MigrateVmResponse(_message.Message):
    __slots__ = ("migration",)
    MIGRATION_FIELD_NUMBER: _ClassVar[int]
    migration: Migration
    def __init__(self, migration: _Optional[_Union[Migration, _Mapping]] = ...) -> None: ...

class MigrationCandidate(_message.Message):
    __slots__ = ("host_id", "host_name", "suitable", "rejections", "manual_allowed", "network_id", "fallback_reason", "fallback_detail", "score")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_NAME_FIELD_NUMBER: _ClassVar[int]
    SUITABLE_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    MANUAL_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_DETAIL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    host_name: str
    suitable: bool
    rejections: _containers.RepeatedScalarFieldContainer[str]
    manual_allowed: bool
    network_id: str
    fallback_reason: _common_pb2.FallbackReason
    fallback_detail: str
    score: float
    def __init__(self, host_id: _Optional[str] = ..., host_name: _Optional[str] = ..., suitable: _Optional[bool] = ..., rejections: _Optional[_Iterable[str]] = ..., manual_allowed: _Optional[bool] = ..., network_id: _Optional[str] = ..., fallback_reason: _Optional[_Union[_common_pb2.FallbackReason, str]] = ..., fallback_detail: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class ListMigrationCandidatesRequest(_message.Message):
    __slots__ = ("vm_id", "page_size", "page_token")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    page_size: int
    page_token: str
    def __init__(self, vm_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMigrationCandidatesResponse(_message.Message):
    __slots__ = ("candidates", "next_page_token")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[MigrationCandidate]
    next_page_token: str
    def __init__(self, candidates: _Optional[_Iterable[_Union[MigrationCandidate, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelMigrationRequest(_message.Message):
    __slots__ = ("migration_id",)
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    def __init__(self, migration_id: _Optional[str] = ...) -> None: ...

class CancelMigrationResponse(_message.Message):
    __slots__ = ("migration",)
    MIGRATION_FIELD_NUMBER: _ClassVar[int]
    migration: Migration
    def __init__(self, migration: _Optional[_Union[Migration, _Mapping]] = ...) -> None: ...

class SetMigrationBandwidthRequest(_message.Message):
    __slots__ = ("migration_id", "max_bandwidth_mib_per_second")
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_BANDWIDTH_MIB_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    max_bandwidth_mib_per_second: int
    def __init__(self, migration_id: _Optional[str] = ..., max_bandwidth_mib_per_second: _Optional[int] = ...) -> None: ...

class SetMigrationBandwidthResponse(_message.Message):
    __slots__ = ("migration",)
    MIGRATION_FIELD_NUMBER: _ClassVar[int]
    migration: Migration
    def __init__(self, migration: _Optional[_Union[Migration, _Mapping]] = ...) -> None: ...

class GetMigrationRequest(_message.Message):
    __slots__ = ("migration_id",)
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    migration_id: str
    def __init__(self, migration_id: _Optional[str] = ...) -> None: ...

class GetMigrationResponse(_message.Message):
    __slots__ = ("migration",)
    MIGRATION_FIELD_NUMBER: _ClassVar[int]
    migration: Migration
    def __init__(self, migration: _Optional[_Union[Migration, _Mapping]] = ...) -> None: ...

class ListMigrationsRequest(_message.Message):
    __slots__ = ("cluster_id", "vm_id", "host_id", "phases", "page_size", "page_token")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    vm_id: str
    host_id: str
    phases: _containers.RepeatedScalarFieldContainer[_common_pb2.MigrationPhase]
    page_size: int
    page_token: str
    def __init__(self, cluster_id: _Optional[str] = ..., vm_id: _Optional[str] = ..., host_id: _Optional[str] = ..., phases: _Optional[_Iterable[_Union[_common_pb2.MigrationPhase, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMigrationsResponse(_message.Message):
    __slots__ = ("migrations", "next_page_token")
    MIGRATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    migrations: _containers.RepeatedCompositeFieldContainer[Migration]
    next_page_token: str
    def __init__(self, migrations: _Optional[_Iterable[_Union[Migration, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchMigrationsRequest(_message.Message):
    __slots__ = ("cluster_id", "vm_id", "migration_id", "include_finished")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    vm_id: str
    migration_id: str
    include_finished: bool
    def __init__(self, cluster_id: _Optional[str] = ..., vm_id: _Optional[str] = ..., migration_id: _Optional[str] = ..., include_finished: _Optional[bool] = ...) -> None: ...

class WatchMigrationsResponse(_message.Message):
    __slots__ = ("migration", "snapshot_complete")
    MIGRATION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    migration: Migration
    snapshot_complete: bool
    def __init__(self, migration: _Optional[_Union[Migration, _Mapping]] = ..., snapshot_complete: _Optional[bool] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("sequence", "type", "severity", "created_at", "cluster_id", "network_id", "host_id", "vm_id", "migration_id", "message", "attributes", "actor")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    MIGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    type: EventType
    severity: EventSeverity
    created_at: _timestamp_pb2.Timestamp
    cluster_id: str
    network_id: str
    host_id: str
    vm_id: str
    migration_id: str
    message: str
    attributes: _containers.ScalarMap[str, str]
    actor: str
    def __init__(self, sequence: _Optional[int] = ..., type: _Optional[_Union[EventType, str]] = ..., severity: _Optional[_Union[EventSeverity, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cluster_id: _Optional[str] = ..., network_id: _Optional[str] = ..., host_id: _Optional[str] = ..., vm_id: _Optional[str] = ..., migration_id: _Optional[str] = ..., message: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., actor: _Optional[str] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("cluster_id", "after_sequence", "page_size", "page_token")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    after_sequence: int
    page_size: int
    page_token: str
    def __init__(self, cluster_id: _Optional[str] = ..., after_sequence: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("cluster_id", "after_sequence")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    after_sequence: int
    def __init__(self, cluster_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class WatchEventsResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: Event
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...
