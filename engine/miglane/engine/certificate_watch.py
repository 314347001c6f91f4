"""The certificate expiry check: at start and then every `interval_s`, one
CERTIFICATE_EXPIRING event per certificate of the engine's CA entering its last 30 days (the
serials already announced are read back from the events, so a restart does not repeat them)."""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from miglane.engine.actor import current_actor
from miglane.engine.domain import audit_messages as say
from miglane.engine.domain.certificates import HOST_ROLE, ExpiringCertificate, to_announce
from miglane.engine.domain.model import Event, EventType
from miglane.engine.store import Store
from miglane.engine.unit_of_work import StoreWorker
from miglane.pki import EXPIRY_WARNING, CertificateInfo

log = logging.getLogger(__name__)


class CertificateRecords(Protocol):
    """The engine's CA as the check reads it (`miglane.pki.CertificateAuthority`)."""

    def list(self) -> builtins.list[CertificateInfo]: ...


def _as_expiring(info: CertificateInfo) -> ExpiringCertificate:
    return ExpiringCertificate(
        info.name, info.role.value, info.serial_hex, info.not_after, revoked=info.revoked
    )


def _announced_serials(store: Store) -> set[str]:
    return {
        event.attributes["serial"]
        for event in store.events_of_type(EventType.CERTIFICATE_EXPIRING)
        if "serial" in event.attributes
    }


class CertificateWatch:
    def __init__(
        self,
        worker: StoreWorker,
        authority: CertificateRecords,
        clock: Callable[[], datetime],
        interval_s: float,
    ) -> None:
        self._worker = worker
        self._authority = authority
        self._clock = clock
        self.interval_s = interval_s
        # Serials announced so far; None until read back from the events.
        self._announced: set[str] | None = None
        # One check at a time: two at once would both announce the same certificate.
        self._checking = asyncio.Lock()

    async def check(self) -> list[Event]:
        """One check; returns the events it wrote."""
        async with self._checking:
            return await self._check()

    async def _check(self) -> list[Event]:
        infos = await asyncio.to_thread(self._authority.list)
        if self._announced is None:
            self._announced = await self._worker.read(_announced_serials)
        now = self._clock()
        due = to_announce(map(_as_expiring, infos), self._announced, now, EXPIRY_WARNING)
        if not due:
            return []
        actor = current_actor.get()

        def work(store: Store) -> tuple[None, list[Event]]:
            return None, [_event(store, certificate, now, actor) for certificate in due]

        _, stored = await self._worker.transact_events(work)
        self._announced.update(certificate.serial for certificate in due)
        return stored

    async def run(self) -> None:
        """Checks now, then every `interval_s`, until cancelled; a failed check is logged and
        tried again at the next."""
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("certificate expiry check failed")
            await asyncio.sleep(self.interval_s)


def _event(store: Store, certificate: ExpiringCertificate, now: datetime, actor: str) -> Event:
    host = store.find_host_named(certificate.name) if certificate.role == HOST_ROLE else None
    return say.certificate_expiring(
        certificate,
        now,
        actor=actor,
        cluster_id=host.cluster_id if host else "",
        host_id=host.id if host else "",
    )
