"""Exec a program inside a lab host: its network namespace and, optionally, its own mounts.

    python -I -S nsexec.py --netns /run/netns/mgl-h1 [--sysfs]
        [--bind SRC DST ...] -- PROGRAM ARGS...

Runs by path with the standard library only (no `miglane` import, no site), so starting it
costs a few milliseconds. It joins the network namespace, and when asked for mounts, enters a
new mount namespace with private propagation (nothing leaks back to the machine), remounts
/sys for that network namespace (so /sys/class/net shows the host's NICs) and bind-mounts each
SRC over DST. Then it replaces itself with PROGRAM: the PID the caller holds is PROGRAM's.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def join_netns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns {path}")
    finally:
        os.close(fd)


def private_mounts(sysfs: bool, binds: list[tuple[str, str]]) -> None:
    _check(_libc.unshare(CLONE_NEWNS), "unshare mount namespace")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    # The copies of /run/netns/* in this mount namespace would keep every other host's network
    # namespace alive for as long as this process runs; it needs none of them.
    _libc.umount2(b"/run/netns", MNT_DETACH)  # fails when /run/netns is no mount point: fine
    if sysfs:
        # Same as `ip netns exec`: a sysfs mounted from inside the namespace shows its NICs.
        _check(_libc.umount2(b"/sys", MNT_DETACH), "unmount /sys")
        _check(_libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None), "mount /sys")
    for src, dst in binds:
        _check(_libc.mount(src.encode(), dst.encode(), None, MS_BIND, None), f"bind {src}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nsexec")
    parser.add_argument("--netns", required=True)
    parser.add_argument("--sysfs", action="store_true")
    parser.add_argument("--bind", action="append", nargs=2, default=[], metavar=("SRC", "DST"))
    parser.add_argument("program", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        parser.error("no program given")
    binds = [(src, dst) for src, dst in args.bind]
    try:
        join_netns(args.netns)
        if args.sysfs or binds:
            private_mounts(args.sysfs, binds)
        os.execvp(program[0], program)
    except OSError as exc:
        print(f"nsexec: {exc}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
