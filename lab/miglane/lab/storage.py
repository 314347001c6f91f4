"""The lab's network block storage: one `qemu-storage-daemon` per lab, one NBD export per disk.

It runs in the root namespace and serves NBD on the management bridge's address, which every
host reaches over its mgmt0: like Ceph RBD or iSCSI in a real cluster, each host's QEMU opens
the disk over the network, so libvirt treats it as shared storage and migrates the guest
without copying it. Images are raw files under `<base>/storage`; exports are added and
removed through the daemon's QMP socket. Its PID file lets `down` stop it by PID.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
from pathlib import Path
from typing import Any

from .commands import tool
from .errors import LabError
from .processes import is_ours, read_pid_file, stop_processes, wait_until

NBD_PORT = 10809
_QMP_TIMEOUT = 10.0


def pid_file(storage_dir: Path) -> Path:
    return storage_dir / "daemon.pid"


def qmp_socket(storage_dir: Path) -> Path:
    return storage_dir / "qmp.sock"


def image_path(storage_dir: Path, export: str) -> Path:
    return storage_dir / f"{export}.raw"


def node_name(export: str) -> str:
    """The image's block node in the daemon: QEMU keeps node names under 32 characters."""
    return "disk-" + hashlib.sha256(export.encode()).hexdigest()[:20]


def daemon_pid(storage_dir: Path) -> int | None:
    """PID of the lab's running storage daemon, checked against its command line."""
    pid = read_pid_file(pid_file(storage_dir))
    return pid if is_ours(pid, "qemu-storage-daemon", str(qmp_socket(storage_dir))) else None


def ensure_daemon(storage_dir: Path, addr: str) -> subprocess.Popen[bytes] | None:
    """Starts the daemon serving NBD on `addr` unless it runs; returns the new process, if any.
    Images left by a daemon that died are exported again."""
    if daemon_pid(storage_dir):
        return None
    storage_dir.mkdir(parents=True, exist_ok=True)
    pid_file(storage_dir).unlink(missing_ok=True)
    qmp_socket(storage_dir).unlink(missing_ok=True)
    argv = [
        tool("qemu-storage-daemon"),
        "--chardev",
        f"socket,id=qmp,path={qmp_socket(storage_dir)},server=on,wait=off",
        "--monitor",
        "chardev=qmp",
        "--nbd-server",
        f"addr.type=inet,addr.host={addr},addr.port={NBD_PORT}",
        "--pidfile",
        str(pid_file(storage_dir)),
    ]
    with (storage_dir / "daemon.log").open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if not wait_until(lambda: daemon_pid(storage_dir) is not None, 10):
        process.kill()
        log_text = (storage_dir / "daemon.log").read_text(errors="replace")[-2000:]
        raise LabError(f"qemu-storage-daemon did not start on {addr}:{NBD_PORT}: {log_text}")
    for image in sorted(storage_dir.glob("*.raw")):
        _export(storage_dir, image.stem, image)
    return process


def stop_daemon(storage_dir: Path) -> None:
    pid = daemon_pid(storage_dir)
    if pid:
        stop_processes([pid])


def create_export(storage_dir: Path, export: str, size: int) -> Path:
    """A fresh zero-filled image of `size` bytes, exported as `export` (replacing one of that
    name). Returns the image's path."""
    remove_export(storage_dir, export)
    image = image_path(storage_dir, export)
    with image.open("wb") as file:
        file.truncate(size)
    _export(storage_dir, export, image)
    return image


def remove_export(storage_dir: Path, export: str) -> None:
    """Stops exporting `export` and deletes its image (nothing when there is none)."""
    if daemon_pid(storage_dir):
        with _Qmp(qmp_socket(storage_dir)) as qmp:
            if export in {entry["id"] for entry in qmp.call("query-block-exports")}:
                qmp.call("block-export-del", id=export)
                wait_until(
                    lambda: export not in {e["id"] for e in qmp.call("query-block-exports")}, 5
                )
            if node_name(export) in {n["node-name"] for n in qmp.call("query-named-block-nodes")}:
                qmp.call("blockdev-del", **{"node-name": node_name(export)})
    image_path(storage_dir, export).unlink(missing_ok=True)


def _export(storage_dir: Path, export: str, image: Path) -> None:
    with _Qmp(qmp_socket(storage_dir)) as qmp:
        qmp.call(
            "blockdev-add",
            driver="raw",
            **{"node-name": node_name(export)},
            # Buffered on this side (tmpfs has no O_DIRECT); the guests' side is cache=none.
            file={"driver": "file", "filename": str(image)},
        )
        export_args = {"id": export, "node-name": node_name(export), "name": export}
        qmp.call("block-export-add", type="nbd", writable=True, **export_args)


class _Qmp:
    """A minimal QMP client: one command at a time, events skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.file: Any = None

    def __enter__(self) -> _Qmp:
        self.sock.settimeout(_QMP_TIMEOUT)
        try:
            self.sock.connect(str(self.path))
        except OSError as exc:
            self.sock.close()
            raise LabError(f"storage daemon not reachable at {self.path}: {exc}") from exc
        self.file = self.sock.makefile("rwb")
        self._read()  # greeting
        self.call("qmp_capabilities")
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        self.sock.close()

    def _read(self) -> dict[str, Any]:
        while True:
            line = self.file.readline()
            if not line:
                raise LabError(f"storage daemon closed its QMP socket {self.path}")
            message: dict[str, Any] = json.loads(line)
            if "event" not in message:
                return message

    def call(self, command: str, **arguments: Any) -> Any:
        request = {"execute": command, **({"arguments": arguments} if arguments else {})}
        self.file.write(json.dumps(request).encode() + b"\n")
        self.file.flush()
        reply = self._read()
        if "error" in reply:
            raise LabError(f"storage daemon: {command}: {reply['error'].get('desc', reply)}")
        return reply.get("return")
