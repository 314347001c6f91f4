"""Encrypted migration on the lab, proven on the wire: what leaves the source's `mig0` during a
migration with `encrypted` is TLS ciphertext (it does not compress), while the same guest
migrated in clear text compresses a hundredfold; libvirt's peers talk qemu+tls:// only."""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import libvirt
import libvirt_qemu
import pytest

from miglane.agent.domain.model import VmState
from miglane.agent.driver import MigrationParams
from miglane.agent.libvirt_driver import LibvirtDriver
from miglane.lab import Lab, LabError, capture
from miglane.lab.plan import LIBVIRTD_TCP_PORT, MIGRATION_PORT_MAX, MIGRATION_PORT_MIN
from miglane.lab.status import HostStatus

pytestmark = pytest.mark.lab

MIB = 1024 * 1024
BLOCK = MIB
CAPTURED = 6 * MIB
# TLS records of AES-GCM / ChaCha20 carry a few header bytes per 16 KiB: no compression at all.
CIPHERTEXT_MAX_RATIO = 1.02
# The lab guest writes one marker per 4 KiB page: its memory compresses far beyond this.
CLEAR_MIN_RATIO = 50
TLS_HANDSHAKE = 0x16
QEMU_STREAM_MAGIC = b"QEVM"

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def driver_of(host: HostStatus) -> LibvirtDriver:
    return LibvirtDriver(
        host.libvirt_uri, qemu_tls_dir=host.qemu_tls_dir, client_pki_dir=host.client_pki_dir
    )


@contextlib.contextmanager
def captured(lab: Lab, host: str, out: Path) -> Iterator[Path]:
    """Captures the migration payload `host` sends on its mig0 while the block runs."""
    argv = [
        sys.executable, "-I", "-S", capture.__file__, "mig0", str(out),
        str(MIGRATION_PORT_MIN), str(MIGRATION_PORT_MAX), str(CAPTURED),
    ]  # fmt: skip
    process = lab.run_in_host(host, argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "capturing"
        yield out
    finally:
        process.terminate()
        process.wait(10)


def compression_ratios(data: bytes) -> list[float]:
    """Original size / zlib size of each whole 1 MiB block."""
    blocks = [data[k : k + BLOCK] for k in range(0, len(data) - BLOCK + 1, BLOCK)]
    return [len(block) / len(zlib.compress(block, 6)) for block in blocks]


def migrate_parameters(host: HostStatus, name: str, until: threading.Event) -> list[dict]:  # type: ignore[type-arg]
    """QEMU's migration parameters of the outgoing domain, sampled while it migrates."""
    seen = []
    conn = libvirt.open(host.libvirt_uri)
    try:
        dom = conn.lookupByName(name)
        while not until.is_set():
            with contextlib.suppress(libvirt.libvirtError):
                reply = libvirt_qemu.qemuMonitorCommand(
                    dom, '{"execute": "query-migrate-parameters"}', 0
                )
                seen.append(json.loads(reply)["return"])
            time.sleep(0.1)
    finally:
        conn.close()
    return seen


def migrate_and_capture(
    lab: Lab, name: str, *, encrypted: bool, out: Path, mibps: int = 64
) -> tuple[bytes, list[dict]]:  # type: ignore[type-arg]
    status = lab.status()
    h1, h2 = status.host("host1"), status.host("host2")
    lab.create_vm(h1.name, name, memory_mib=128)
    driver = driver_of(h1)
    vm = next(d.id for d in driver.list_domains() if d.name == name)
    # by name: the source daemon resolves host2 in its /etc/hosts; the certificate's DNS SAN
    params = MigrationParams(
        f"qemu+tls://{h2.name}/system",
        h2.migration_uri,
        mibps,
        encrypted=encrypted,
        tls_destination=h2.name,
    )
    done = threading.Event()
    sampled: list[dict] = []  # type: ignore[type-arg]
    sampler = threading.Thread(
        target=lambda: sampled.extend(migrate_parameters(h1, name, done)), daemon=True
    )
    try:
        with captured(lab, h1.name, out):
            sampler.start()
            try:
                driver.migrate(vm, params)
            finally:
                done.set()
                sampler.join(10)
        assert driver_of(h2).domain(vm).state is VmState.RUNNING
        return out.read_bytes(), sampled
    finally:
        driver.close()
        for host in (h1.name, h2.name):
            with contextlib.suppress(LabError):
                lab.destroy_vm(host, name)


def test_an_encrypted_migration_is_ciphertext_on_the_wire(lab: Lab, tmp_path: Path) -> None:
    secret, secret_params = migrate_and_capture(
        lab, "wire-tls", encrypted=True, out=tmp_path / "tls.bin"
    )
    clear, clear_params = migrate_and_capture(
        lab, "wire-clear", encrypted=False, out=tmp_path / "clear.bin"
    )
    assert len(secret) >= 4 * BLOCK and len(clear) >= 4 * BLOCK
    secret_ratios, clear_ratios = compression_ratios(secret), compression_ratios(clear)
    print(f"\nencrypted: ratios {[round(r, 3) for r in secret_ratios]}")
    print(f"clear:     median ratio {statistics.median(clear_ratios):.0f}")
    assert max(secret_ratios) < CIPHERTEXT_MAX_RATIO
    assert statistics.median(clear_ratios) > CLEAR_MIN_RATIO
    # the streams begin as TLS (a handshake record) and as QEMU's own format
    assert secret[0] == TLS_HANDSHAKE and secret[1] == 3
    assert clear.startswith(QEMU_STREAM_MAGIC) and QEMU_STREAM_MAGIC not in secret
    # QEMU itself says so: its migration ran with TLS credentials, checking host2's name
    assert any(p.get("tls-creds") and p.get("tls-hostname") == "host2" for p in secret_params)
    assert not any(p.get("tls-creds") for p in clear_params)


def test_plain_tcp_to_a_lab_libvirtd_is_refused(lab: Lab) -> None:
    host = lab.status().host("host2")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host.mgmt_addr, LIBVIRTD_TCP_PORT), timeout=3).close()
    with pytest.raises(libvirt.libvirtError):
        libvirt.open(f"qemu+tcp://{host.mgmt_addr}/system")
    # TLS without a certificate from the lab's CA: refused too
    with pytest.raises(libvirt.libvirtError):
        libvirt.open(f"{host.peer_uri}?pkipath=/nonexistent")


# QEMU 7.2 with GnuTLS is known to fail long TLS migrations when GnuTLS rekeys the session
# (QEMU issue 1937): one session must carry several GiB here.
LONG_TRANSFER = 4 * 1024 * MIB
LONG_TIMEOUT_S = 120


def test_an_encrypted_migration_carries_several_gib_in_one_session(lab: Lab) -> None:
    status = lab.status()
    h1, h2 = status.host("host1"), status.host("host2")
    # A guest that dirties 256 MiB forever cannot converge: QEMU resends it pass after pass
    # over the same TLS session until it is allowed a downtime long enough to finish.
    lab.create_vm(h1.name, "long-tls", memory_mib=512, dirty_mib=256)
    driver = driver_of(h1)
    vm = next(d.id for d in driver.list_domains() if d.name == "long-tls")
    params = MigrationParams(
        h2.peer_uri, h2.migration_uri, None, encrypted=True, tls_destination=h2.name
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            driver.migrate(vm, params)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    try:
        thread.start()
        deadline = started + LONG_TIMEOUT_S
        processed = 0
        while thread.is_alive() and processed < LONG_TRANSFER and time.monotonic() < deadline:
            stats = driver.job_stats(vm)
            processed = stats.data_processed if stats else processed
            time.sleep(0.2)
        assert not errors, f"after {processed / MIB:.0f} MiB over TLS: {errors[0]}"
        assert processed >= LONG_TRANSFER, f"only {processed / MIB:.0f} MiB in time"
        driver.set_max_downtime(vm, 60_000)  # now let it finish
        thread.join(LONG_TIMEOUT_S)
        assert not thread.is_alive()
        assert not errors, f"after {processed / MIB:.0f} MiB over TLS: {errors[0]}"
        final = driver.completed_job_stats(vm, h2.peer_uri)
        assert final is not None and final.data_processed >= LONG_TRANSFER
        print(
            f"\n{final.data_processed / MIB:.0f} MiB over one TLS session in "
            f"{time.monotonic() - started:.1f} s"
        )
    finally:
        if thread.is_alive():
            with contextlib.suppress(Exception):
                driver.abort(vm)
            thread.join(30)
        driver.close()
        for host in (h1.name, h2.name):
            with contextlib.suppress(LabError):
                lab.destroy_vm(host, "long-tls")
