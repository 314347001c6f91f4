"""Migrations sharing a host's migration link on the real lab, timed: the wire the fake fabric
(`miglane.testing.storm.fake_shared_link_seconds`) is checked against (root, libvirt)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from miglane.lab import Lab


def real_shared_link_seconds(
    lab: Lab, source: str, guests: Sequence[str], destinations: Sequence[str]
) -> list[float]:
    """Wall seconds of each guest's live migration from `source` to its destination (one each),
    uncapped, all started at once (libvirt's PEER2PEER, over the migration network)."""
    import libvirt

    status = lab.status()
    seconds: dict[str, float] = {}
    ready = threading.Barrier(len(guests))

    def migrate(name: str, dest: str) -> None:
        src, dst = status.host(source), status.host(dest)
        conn = libvirt.open(src.libvirt_uri)
        try:
            dom = conn.lookupByName(name)
            params = {libvirt.VIR_MIGRATE_PARAM_URI: dst.migration_uri}
            ready.wait()
            started = time.monotonic()
            dom.migrateToURI3(
                dst.peer_uri, params, libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
            )
            seconds[name] = time.monotonic() - started
        finally:
            conn.close()

    threads = [
        threading.Thread(target=migrate, args=pair)
        for pair in zip(guests, destinations, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    missing = [name for name in guests if name not in seconds]
    if missing:
        raise RuntimeError(f"migrations of {', '.join(missing)} failed (see the log)")
    return [seconds[name] for name in guests]
