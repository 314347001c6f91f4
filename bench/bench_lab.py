"""Benchmark of `miglane lab`: bring-up, VM start, and migration against a raw copy.

    .venv/bin/python bench/bench_lab.py      (root; `make bench` runs it)

Runs a lab of its own (a free slot in 10-39, claimed like the test sessions' slots, base dir
/tmp/miglane-bench-lab-N) and takes it down at the end; an operator's lab is not touched. Measures:
  - `up` of 3 hosts with packages present: cold (no cached QEMU probe) and warm;
  - start of a 64 MiB guest until it has filled its memory, several times;
  - live migration of a 256 MiB guest over the migration network, uncapped, several times,
    against a raw TCP copy of 256 MiB between the same two hosts over the same link;
  - the same guest migrated encrypted (QEMU TLS) against clear text, one run each: the
    throughput ratio (target >= 0.8);
  - `down`.
Target: `up` of 3 hosts under 10 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import libvirt

from miglane.lab import Lab, LabError, Network
from miglane.testing.lab_slots import claim_lab_slot

HOSTS = 3
BENCH_LAB_BASE_PREFIX = "/tmp/miglane-bench-lab-"
UP_TARGET_S = 10.0
TLS_THROUGHPUT_TARGET = 0.8
GUEST_MIB = 256
RUNS = 5
COPY_PORT = 5201
MIB = 1024 * 1024

# A receiver and a sender of COPY_MIB MiB over TCP; the sender prints the seconds from
# connect to the receiver having read everything (it closes its end after EOF).
RECEIVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
buf = bytearray(1 << 20); view = memoryview(buf)
while c.recv_into(view):
    pass
c.close()
"""
SENDER = """
import socket, sys, time
mib = int(sys.argv[3]); chunk = b"\\x5a" * (1 << 20)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
started = time.monotonic()
for _ in range(mib):
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(time.monotonic() - started)
"""


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} s, min {min(values):.3f}, "
        f"max {max(values):.3f} ({len(values)} runs)"
    )


def migrate(
    lab: Lab, name: str, source: str, dest: str, *, encrypted: bool = False
) -> tuple[float, dict[str, int]]:
    """Seconds of the migrateToURI3 call, and libvirt's statistics of the completed job; with
    `encrypted`, QEMU's TLS checking the destination's host name, as the agent asks for it."""
    status = lab.status()
    src, dst = status.host(source), status.host(dest)
    conn = libvirt.open(src.libvirt_uri)
    dconn = libvirt.open(dst.libvirt_uri)
    try:
        dom = conn.lookupByName(name)
        started = time.monotonic()
        params: dict[str, object] = {libvirt.VIR_MIGRATE_PARAM_URI: dst.migration_uri}
        flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
        if encrypted:
            params[libvirt.VIR_MIGRATE_PARAM_TLS_DESTINATION] = dst.name
            flags |= libvirt.VIR_MIGRATE_TLS
        dom.migrateToURI3(dst.peer_uri, params, flags)
        seconds = time.monotonic() - started
        stats = dconn.lookupByName(name).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        return seconds, stats
    finally:
        conn.close()
        dconn.close()


def raw_copy(lab: Lab, source: str, dest: str, mib: int) -> float:
    """Seconds to push `mib` MiB over TCP from `source` to `dest`'s migration address."""
    addr = lab.status().host(dest).mig_addr
    receiver = lab.run_in_host(
        dest,
        [sys.executable, "-I", "-c", RECEIVER, addr, str(COPY_PORT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        receiver.stdout.readline()  # "listening"
        sender = lab.run_in_host(
            source,
            [sys.executable, "-I", "-c", SENDER, addr, str(COPY_PORT), str(mib)],
            stdout=subprocess.PIPE,
            text=True,
        )
        out, _ = sender.communicate(timeout=120)
        return float(out.strip())
    finally:
        receiver.wait(timeout=10)


def main() -> int:
    if os.geteuid() != 0:
        print("bench_lab: needs root (the lab creates namespaces, bridges and daemons)")
        return 1
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    with claim_lab_slot(BENCH_LAB_BASE_PREFIX) as (slot, base):
        lab = Lab(base, slot=slot)
        try:
            return measure(lab)
        except (LabError, libvirt.libvirtError) as exc:
            print(f"bench_lab: {exc}")
            return 1
        finally:
            lab.down(purge=True)


def measure(lab: Lab) -> int:
    lab.up(hosts=2)  # packages and guest kernel present before anything is timed
    lab.down(purge=True)
    cold = timed(lambda: lab.up(hosts=HOSTS))
    lab.down()
    warm_runs = []
    for _ in range(3):
        warm_runs.append(timed(lambda: lab.up(hosts=HOSTS)))
        if len(warm_runs) < 3:
            lab.down()
    again = timed(lambda: lab.up(hosts=HOSTS))
    print(f"lab up, {HOSTS} hosts, packages present, first ever (QEMU probed): {cold:.2f} s")
    print(f"lab up, {HOSTS} hosts, packages present, QEMU probe cached: {summary(warm_runs)}")
    print(f"lab up again while up (idempotent, nothing to do): {again:.2f} s")
    worst = max(cold, *warm_runs)
    verdict = "met" if worst < UP_TARGET_S else "NOT met"
    print(f"target: lab up of {HOSTS} hosts < {UP_TARGET_S:g} s: {verdict} (worst {worst:.2f} s)")

    starts = []
    for i in range(RUNS):
        starts.append(timed(lambda i=i: lab.create_vm("host3", f"b-start-{i}", 64)))
        lab.destroy_vm("host3", f"b-start-{i}")
    print(f"VM start, 64 MiB guest, until its memory is filled: {summary(starts)}")

    lab.create_vm("host1", "b-mig", GUEST_MIB)
    seconds, jobs, path = [], [], ["host1", "host2"]
    rx_before = sum(lab.nic_counters("host2", Network.MIG))
    for run in range(RUNS):
        source, dest = path[run % 2], path[(run + 1) % 2]
        took, job = migrate(lab, "b-mig", source, dest)
        seconds.append(took)
        jobs.append(job)
    carried = (sum(lab.nic_counters("host2", Network.MIG)) - rx_before) / MIB
    copies = [raw_copy(lab, "host1", "host2", GUEST_MIB) for _ in range(3)]
    migration, copy = statistics.median(seconds), statistics.median(copies)
    print(f"migration, {GUEST_MIB} MiB guest over mig0, uncapped: {summary(seconds)}")
    setup_ms = statistics.median(job.get("setup_time", 0) for job in jobs)
    downtime_ms = statistics.median(job.get("downtime", 0) for job in jobs)
    rates = [
        job["memory_processed"] / MIB / ((job["time_elapsed"] - job.get("setup_time", 0)) / 1e3)
        for job in jobs
        if job.get("memory_processed") and job.get("time_elapsed")
    ]
    print(
        f"  libvirt job: setup {setup_ms:.0f} ms, downtime {downtime_ms:.0f} ms, "
        f"memory transfer {statistics.median(rates):.0f} MiB/s (medians)"
    )
    print(f"  mig0 of host2 moved {carried:.0f} MiB over {RUNS} migrations")
    print(f"raw TCP copy, {GUEST_MIB} MiB, host1 -> host2 over mig0: {summary(copies)}")
    print(
        f"  migration / raw copy: {migration / copy:.1f}x "
        f"({GUEST_MIB / migration:.0f} MiB/s vs {GUEST_MIB / copy:.0f} MiB/s)"
    )
    lab.destroy_vm(path[RUNS % 2], "b-mig")
    encrypted_against_clear(lab)
    print(f"lab down: {timed(lab.down):.2f} s")
    return 0


def encrypted_against_clear(lab: Lab) -> None:
    """One encrypted and one clear-text migration of the same guest, host1 -> host2 -> host1:
    memory throughput as libvirt measured it (bytes processed over the transfer time)."""
    lab.create_vm("host1", "b-tls", GUEST_MIB)
    rates = {}
    for encrypted, (source, dest) in ((True, ("host1", "host2")), (False, ("host2", "host1"))):
        _, job = migrate(lab, "b-tls", source, dest, encrypted=encrypted)
        transfer_s = (job["time_elapsed"] - job.get("setup_time", 0)) / 1e3
        rates[encrypted] = job["memory_processed"] / MIB / transfer_s
    lab.destroy_vm("host1", "b-tls")
    ratio = rates[True] / rates[False]
    verdict = "met" if ratio >= TLS_THROUGHPUT_TARGET else "NOT met"
    print(
        f"migration, {GUEST_MIB} MiB guest, encrypted (TLS) {rates[True]:.0f} MiB/s vs clear "
        f"{rates[False]:.0f} MiB/s: ratio {ratio:.2f} "
        f"(target >= {TLS_THROUGHPUT_TARGET}: {verdict})"
    )


if __name__ == "__main__":
    sys.exit(main())
