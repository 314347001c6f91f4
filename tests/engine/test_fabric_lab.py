"""The fake fabric against the wire: two guests migrating at once from one host over its shaped
migration link take, on the real lab (libvirt, QEMU, tc), the time the fake fabric gives them
plus the fixed costs the fabric does not simulate (`prediction.SETUP_S`, `SWITCH_OVER_S`)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest

from miglane.engine.domain.prediction import SETUP_S, SWITCH_OVER_S
from miglane.lab import Network
from miglane.testing.storm import fake_shared_link_seconds

pytestmark = pytest.mark.lab

libvirt = pytest.importorskip("libvirt")

LINK_MBIT = 400
GUESTS_MIB = (128, 192)
DESTINATIONS = ("host2", "host3")
SOURCE = "host1"
# |fake - real| / real allowed per migration: TCP and tc's framing take a few percent of the
# shaped rate, and the lab's guests run under TCG on a shared 2-core machine.
TOLERANCE = 0.15


def _migrate(lab, name: str, dest: str, seconds: dict[str, float]) -> None:  # type: ignore[no-untyped-def]
    status = lab.status()
    src, dst = status.host(SOURCE), status.host(dest)
    conn = libvirt.open(src.libvirt_uri)
    try:
        dom = conn.lookupByName(name)
        params = {libvirt.VIR_MIGRATE_PARAM_URI: dst.migration_uri}
        started = time.monotonic()
        dom.migrateToURI3(
            dst.peer_uri, params, libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
        )
        seconds[name] = time.monotonic() - started
    finally:
        conn.close()


@pytest.fixture
def shaped(lab) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """Guests on SOURCE, the migration links shaped at LINK_MBIT; all undone afterwards."""
    before = lab.status().mig_mbit
    names = [f"t-fabric-{i}" for i in range(len(GUESTS_MIB))]
    lab.set_rate(Network.MIG, LINK_MBIT)
    try:
        for name, mib in zip(names, GUESTS_MIB, strict=True):
            lab.create_vm(SOURCE, name, memory_mib=mib)
        yield names
    finally:
        lab.set_rate(Network.MIG, before)
        for vm in lab.list_vms():
            if vm.name in names:
                with contextlib.suppress(Exception):
                    lab.destroy_vm(vm.host, vm.name)


@pytest.mark.timeout(120)
def test_concurrent_migrations_on_a_shaped_link_take_the_fabrics_time(
    lab,
    shaped: list[str],  # type: ignore[no-untyped-def]
) -> None:
    seconds: dict[str, float] = {}
    threads = [
        threading.Thread(target=_migrate, args=(lab, name, dest, seconds))
        for name, dest in zip(shaped, DESTINATIONS, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    real = [seconds[name] for name in shaped]
    fake = [s + SETUP_S + SWITCH_OVER_S for s in fake_shared_link_seconds(GUESTS_MIB, LINK_MBIT)]
    errors = [abs(f - r) / r for f, r in zip(fake, real, strict=True)]
    print(
        f"\n{len(GUESTS_MIB)} guests ({', '.join(map(str, GUESTS_MIB))} MiB) sharing a "
        f"{LINK_MBIT} Mbit/s link: real {', '.join(f'{r:.2f}' for r in real)} s, fake fabric "
        f"{', '.join(f'{f:.2f}' for f in fake)} s, error "
        f"{', '.join(f'{e:.0%}' for e in errors)}"
    )
    assert max(errors) <= TOLERANCE
