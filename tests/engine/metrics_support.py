"""Scraping a Prometheus endpoint in tests: the samples of one scrape, looked up by name and
labels; and the sentence the engine's rule makes of a proof of path."""

from __future__ import annotations

import asyncio
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from miglane.engine.domain.model import PathProof, PathVerdict
from miglane.engine.domain.path_proof import path_summary
from miglane.v1 import engine_pb2


@dataclass(frozen=True)
class Scrape:
    samples: list[tuple[str, dict[str, str], float]]

    def values(self, name: str, **labels: str) -> list[float]:
        """Values of the samples named `name` whose labels include `labels`."""
        return [
            value
            for sample, sample_labels, value in self.samples
            if sample == name and all(sample_labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float:
        """The one sample named `name` with `labels`; AssertionError when not exactly one."""
        found = self.values(name, **labels)
        assert len(found) == 1, (name, labels, found)
        return found[0]


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        return str(reply.read().decode())


async def scrape(url: str) -> Scrape:
    text = await asyncio.to_thread(_fetch, url)
    return Scrape(
        [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]
    )


def summary_of(proof: engine_pb2.MigrationPathProof) -> str:
    """What `path_summary` says of the proof's figures (the summary the API must carry)."""
    return path_summary(
        PathProof(
            PathVerdict(proof.verdict),
            proof.nic,
            proof.nic_tx_bytes,
            proof.data_bytes,
            proof.memory_bytes,
            proof.other_nic,
            proof.other_nic_tx_bytes,
        )
    )
