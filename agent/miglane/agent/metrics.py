"""The agent's Prometheus metrics (`miglane agent --metrics-listen`), read from the agent's own
state at scrape time: its migration jobs as the source host measures them, its outgoing slots,
and its NICs' byte counters (read just before each scrape).

The per-job gauges follow KubeVirt's names (kubevirt_vmi_migration_data_processed_bytes,
_data_remaining_bytes, _data_total_bytes, _dirty_memory_rate_bytes,
_memory_transfer_rate_bytes, _start_time_seconds, _end_time_seconds, _succeeded, _failed), with
`miglane_` for `kubevirt_`, labelled `migration` (the engine's migration id, which the engine's
own gauges carry too) and `vm_id`; they cover the running jobs and the `KEPT_FINISHED` that
finished last. Miglane's own: `miglane_agent_migrations_outgoing` and its `_limit`,
`miglane_agent_nic_transmit_bytes_total{nic}` (the kernel's counters) and
`miglane_migration_nic_transmit_bytes{migration,nic}` (what each NIC sent while a job ran: the
proof of path's figures). gRPC requests and latency come from
`miglane.metrics.GrpcServerMetrics` (prefix `miglane_agent`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from miglane.agent.domain.job import JobStatus, NicCounters
from miglane.agent.domain.model import JobPhase
from miglane.agent.service import Agent

# Finished jobs whose gauges are still exported, newest first.
KEPT_FINISHED = 200


class AgentMetrics(Collector):
    """Registers with `registry`; `refresh` runs before each scrape. Event loop only."""

    def __init__(self, agent: Agent, registry: CollectorRegistry) -> None:
        self._agent = agent
        self._counters: NicCounters = {}
        registry.register(self)

    async def refresh(self) -> None:
        self._counters = await self._agent.monitor.read_nic_counters()

    def _statuses(self) -> list[JobStatus]:
        statuses = [job.status for job in self._agent.jobs.values()]
        running = [s for s in statuses if not s.finished]
        finished = sorted(
            (s for s in statuses if s.finished), key=lambda s: s.finished_at, reverse=True
        )
        return running + finished[:KEPT_FINISHED]

    def collect(self) -> Iterator[Metric]:
        statuses = self._statuses()
        yield from self._per_job(statuses)
        yield from self._slots(statuses)
        yield from self._nics(statuses)

    @staticmethod
    def _per_job(statuses: list[JobStatus]) -> Iterator[Metric]:
        labels = ("migration", "vm_id")

        def gauge(suffix: str, documentation: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(
                f"miglane_vmi_migration_{suffix}", documentation, labels=labels
            )

        families = {
            "processed": gauge("data_processed_bytes", "Data the job has sent so far."),
            "remaining": gauge("data_remaining_bytes", "Data the job has still to send."),
            "total": gauge("data_total_bytes", "Data the job has to send in all."),
            "dirty": gauge("dirty_memory_rate_bytes", "How fast the guest dirties memory, B/s."),
            "rate": gauge("memory_transfer_rate_bytes", "How fast memory is sent, B/s."),
            "start": gauge("start_time_seconds", "When the job started (UNIX time)."),
            "end": gauge("end_time_seconds", "When the job ended (UNIX time)."),
            "succeeded": gauge("succeeded", "1 when the job completed."),
            "failed": gauge("failed", "1 when the job failed."),
        }
        for status in statuses:
            values = [status.migration_id, status.vm_id]
            families["processed"].add_metric(values, status.data_processed)
            families["remaining"].add_metric(values, status.data_remaining)
            families["total"].add_metric(values, status.data_total)
            families["dirty"].add_metric(values, status.dirty_rate_bps)
            families["rate"].add_metric(values, status.throughput_bps)
            families["start"].add_metric(values, status.started_at)
            if status.finished:
                families["end"].add_metric(values, status.finished_at)
                families["succeeded"].add_metric(values, status.phase is JobPhase.COMPLETED)
                families["failed"].add_metric(values, status.phase is JobPhase.FAILED)
        yield from families.values()

    def _slots(self, statuses: list[JobStatus]) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "miglane_agent_migrations_outgoing",
            "Outgoing migration jobs running on this host now.",
            value=sum(1 for s in statuses if not s.finished),
        )
        yield GaugeMetricFamily(
            "miglane_agent_migrations_outgoing_limit",
            "How many outgoing migrations this agent runs at once (--max-outgoing).",
            value=self._agent.max_outgoing,
        )

    def _nics(self, statuses: list[JobStatus]) -> Iterator[Metric]:
        sent = CounterMetricFamily(
            "miglane_agent_nic_transmit_bytes",
            "Bytes each NIC of the host has sent (the kernel's tx_bytes counter).",
            labels=("nic",),
        )
        for nic, count in sorted(self._counters.items()):
            sent.add_metric([nic], count)
        yield sent
        during = GaugeMetricFamily(
            "miglane_migration_nic_transmit_bytes",
            "Bytes each NIC sent while the migration job ran (all of its traffic): the figures "
            "of the proof of path.",
            labels=("migration", "nic"),
        )
        for status in statuses:
            for nic, count in status.nic_tx_bytes:
                during.add_metric([status.migration_id, nic], count)
        yield during
