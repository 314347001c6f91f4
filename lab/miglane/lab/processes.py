"""Processes the lab started, found and stopped by PID (never by name)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def is_running(pid: int | None) -> bool:
    """True when the process exists and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    # The state follows the command name, which is in parentheses and may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_ours(pid: int | None, *markers: str) -> bool:
    """Running, and its command line contains every marker: guards against reused PIDs."""
    if not is_running(pid):
        return False
    assert pid is not None
    line = " ".join(cmdline(pid))
    return all(marker in line for marker in markers)


def read_pid_file(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.isdigit() else None


def netns_inode(path: str | Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def process_netns_inode(pid: int) -> int | None:
    return netns_inode(f"/proc/{pid}/ns/net")


def pids_in_netns(inodes: Iterable[int]) -> list[int]:
    """Running processes inside any of these network namespaces (by namespace inode)."""
    wanted = set(inodes)
    found: list[int] = []
    if not wanted:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            inode = os.stat(f"/proc/{entry.name}/ns/net").st_ino
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if inode in wanted and is_running(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_processes(pids: Iterable[int], grace: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL whatever still runs after `grace` seconds; returns those killed."""
    pending = [pid for pid in dict.fromkeys(pids) if is_running(pid)]
    for pid in pending:
        _signal(pid, signal.SIGTERM)
    wait_until(lambda: not any(is_running(pid) for pid in pending), grace)
    killed = [pid for pid in pending if is_running(pid)]
    for pid in killed:
        _signal(pid, signal.SIGKILL)
    wait_until(lambda: not any(is_running(pid) for pid in killed), 5.0)
    return killed


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
