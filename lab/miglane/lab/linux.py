"""The lab's Linux guest: a Debian kernel and a busybox initramfs that writes a disk pattern.

Both come from Debian packages fetched with `apt-get download` into the lab's cache (the
machine's own /boot is never used): `linux-image-amd64`'s vmlinuz plus the few virtio modules
a disk needs, and `busybox-static`. The initramfs's /init loads the modules, writes a header
at the start of every 1 MiB block of each virtio disk (`block_header`), syncs, then keeps
rewriting `mgl_dirty` MiB of memory; it reports each phase on the serial console
(`LinuxPhase.serial_line`). `check_pattern` reads a disk image from the host side.
"""

from __future__ import annotations

import enum
import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .commands import run
from .errors import LabError

KERNEL_META_PACKAGE = "linux-image-amd64"
BUSYBOX_PACKAGE = "busybox-static"
# Modules a virtio disk needs, besides what they depend on (resolved from their modinfo).
DISK_MODULES = ("virtio_pci", "virtio_blk")
BLOCK = 1024 * 1024
SERIAL_PREFIX = "miglane-linux: "
HEADER_MAGIC = "MIGLANE-BLOCK"
HEADER_FORMAT = HEADER_MAGIC + " %s %08d\n"  # disk serial, block index (shell printf format)
DIRTY_PARAM = "mgl_dirty"
KERNEL_CMDLINE = "console=ttyS0 quiet panic=-1"
_APT_TIMEOUT = 600
_MODULE_PATTERNS = (
    "./lib/modules/*/kernel/drivers/virtio/virtio*.ko",
    "./lib/modules/*/kernel/drivers/block/virtio_blk.ko",
)


class LinuxPhase(enum.Enum):
    """What the Linux guest announces on its serial console, in this order."""

    BOOTED = "booted"
    PATTERN_WRITTEN = "pattern written"
    DIRTYING = "dirtying"
    IDLE = "idle"

    @property
    def serial_line(self) -> str:
        return f"{SERIAL_PREFIX}{self.value}"


@dataclass(frozen=True)
class LinuxImage:
    """A bootable kernel and initramfs, both in the lab's cache."""

    kernel: Path
    initrd: Path


def kernel_cmdline(dirty_mib: int) -> str:
    return f"{KERNEL_CMDLINE} {DIRTY_PARAM}={dirty_mib}"


def block_header(serial: str, index: int) -> bytes:
    """What the guest writes at the start of block `index` of the disk with this serial."""
    return (HEADER_FORMAT.replace("%s", serial).replace("%08d", f"{index:08d}")).encode()


def init_script(modules: Iterable[str]) -> str:
    """The initramfs's /init (busybox sh): modules in load order, by file name under /lib."""
    loads = "\n".join(f"insmod /lib/{name}.ko" for name in modules)
    say = f'echo "{SERIAL_PREFIX}$1" > /dev/console'
    printf_format = HEADER_FORMAT.replace("\n", "\\n")
    return f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
say() {{ {say}; }}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
{loads}
say "{LinuxPhase.BOOTED.value}"
for dev in /sys/block/vd*; do
  [ -e "$dev" ] || continue
  name=${{dev##*/}}
  serial=$(cat "$dev/serial" 2>/dev/null)
  blocks=$(( $(cat "$dev/size") * 512 / {BLOCK} ))
  i=0
  while [ $i -lt $blocks ]; do
    printf '{printf_format}' "$serial" $i |
      dd of=/dev/$name bs={BLOCK} seek=$i conv=notrunc 2>/dev/null
    i=$((i + 1))
  done
done
sync
say "{LinuxPhase.PATTERN_WRITTEN.value}"
dirty=0
for arg in $(cat /proc/cmdline); do
  case $arg in {DIRTY_PARAM}=*) dirty=${{arg#*=}} ;; esac
done
if [ "$dirty" -gt 0 ]; then
  # Any bytes but zeros (QEMU sends zero pages as a flag); urandom is slow under TCG.
  yes miglane-dirty | head -c $((dirty * {BLOCK})) > /dirty-source
  cp /dirty-source /dirty
  say "{LinuxPhase.DIRTYING.value}"
  while :; do dd if=/dirty-source of=/dirty bs={BLOCK} conv=notrunc 2>/dev/null; done
fi
say "{LinuxPhase.IDLE.value}"
while :; do sleep 3600; done
"""


# -- the initramfs (newc cpio, gzip) ---------------------------------------------------------


@dataclass(frozen=True)
class CpioEntry:
    path: str  # without leading slash
    mode: int  # file type and permissions, as st_mode
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def initramfs_entries(busybox: bytes, modules: list[tuple[str, bytes]]) -> list[CpioEntry]:
    """Everything the initramfs holds; `modules` in load order as (name, .ko bytes)."""
    directory, executable = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755
    entries = [CpioEntry(name, directory) for name in ("bin", "dev", "lib", "proc", "sys")]
    # The kernel opens /dev/console for init before any devtmpfs is mounted.
    entries.append(CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    entries.append(CpioEntry("bin/busybox", executable, busybox))
    entries += [CpioEntry(f"lib/{name}.ko", stat.S_IFREG | 0o644, data) for name, data in modules]
    script = init_script(name for name, _ in modules).encode()
    entries.append(CpioEntry("init", executable, script))
    return entries


def write_cpio(entries: Iterable[CpioEntry]) -> bytes:
    """A newc-format cpio archive (what the kernel unpacks as initramfs)."""
    out = io.BytesIO()

    def add(path: str, mode: int, data: bytes, rdev: tuple[int, int], ino: int) -> None:
        name = path.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name), 0)
        out.write(b"070701" + b"".join(b"%08X" % value for value in fields) + name)
        out.write(b"\0" * (-out.tell() % 4) + data)
        out.write(b"\0" * (-out.tell() % 4))

    count = 0
    for count, entry in enumerate(entries, start=1):
        add(entry.path, entry.mode, entry.data, entry.rdev, count)
    add("TRAILER!!!", 0, b"", (0, 0), count + 1)
    return out.getvalue()


def module_depends(ko: bytes) -> list[str]:
    """Names of the modules a .ko needs first, from its modinfo `depends=` field."""
    match = re.search(rb"\0depends=([^\0]*)\0", ko)
    if not match or not match.group(1):
        return []
    return match.group(1).decode().split(",")


def load_order(roots: Iterable[str], available: dict[str, Path]) -> list[str]:
    """`roots` and everything they depend on, dependencies first."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name not in available:
            raise LabError(f"kernel module {name} is not in the kernel package")
        for dependency in module_depends(available[name].read_bytes()):
            visit(dependency)
        order.append(name)

    for root in roots:
        visit(root)
    return order


# -- fetching and building ----------------------------------------------------------------------


def kernel_package() -> str:
    """The versioned package `linux-image-amd64` depends on (what `apt-get download` fetches)."""
    result = run(["apt-cache", "depends", KERNEL_META_PACKAGE], check=False)
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split()[1]
    raise LabError(
        f"apt-cache knows no {KERNEL_META_PACKAGE}: run `apt-get update` (the Linux guest "
        "needs Debian's kernel and busybox-static packages)"
    )


def _download(packages: list[str], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob("*.deb"):
        stale.unlink()
    try:
        # apt-get download writes into its working directory
        run(["apt-get", "download", "-qq", *packages], timeout=_APT_TIMEOUT, cwd=str(dest))
    except LabError as exc:
        raise LabError(f"could not download {' '.join(packages)}: {exc}") from exc
    return sorted(dest.glob("*.deb"))


def _extract(deb: Path, dest: Path, *patterns: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    run(
        [
            "sh",
            "-c",
            'deb=$1 dest=$2; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest" '
            '--wildcards "$@"',
            "sh",
            str(deb),
            str(dest),
            *patterns,
        ],
        timeout=_APT_TIMEOUT,
    )


def _fetch_parts(parts: Path) -> None:
    """Kernel, its modules and busybox under `parts` (the .deb files are not kept)."""
    kernel_pkg = kernel_package()
    with tempfile.TemporaryDirectory(dir=parts.parent) as tmp:
        debs = _download([kernel_pkg, BUSYBOX_PACKAGE], Path(tmp, "debs"))
        unpacked = Path(tmp, "root")
        for deb in debs:
            if deb.name.startswith(BUSYBOX_PACKAGE):
                _extract(deb, unpacked, "./bin/busybox")
            else:
                _extract(deb, unpacked, "./boot/vmlinuz-*", *_MODULE_PATTERNS)
        staging = Path(tmp, "parts")
        (staging / "modules").mkdir(parents=True)
        kernels = sorted(unpacked.glob("boot/vmlinuz-*"))
        if not kernels or not (unpacked / "bin/busybox").exists():
            raise LabError(f"{kernel_pkg} or {BUSYBOX_PACKAGE} lacks vmlinuz or busybox")
        shutil.copy2(kernels[-1], staging / "vmlinuz")
        shutil.copy2(unpacked / "bin/busybox", staging / "busybox")
        for ko in unpacked.glob("lib/modules/*/kernel/drivers/**/*.ko"):
            if "virtio" in ko.name:
                shutil.copy2(ko, staging / "modules" / ko.name)
        shutil.rmtree(parts, ignore_errors=True)
        os.replace(staging, parts)


def build_linux_image(cache_dir: Path) -> LinuxImage:
    """The kernel and initramfs, fetched and built once per cache directory."""
    parts = cache_dir / "parts"
    if not (parts / "vmlinuz").exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        _fetch_parts(parts)
    available = {ko.stem.replace("-", "_"): ko for ko in (parts / "modules").glob("*.ko")}
    order = load_order(DISK_MODULES, available)
    entries = initramfs_entries(
        (parts / "busybox").read_bytes(), [(name, available[name].read_bytes()) for name in order]
    )
    archive = write_cpio(entries)
    initrd = cache_dir / f"initramfs-{hashlib.sha256(archive).hexdigest()[:12]}.cpio.gz"
    if not initrd.exists():
        tmp = initrd.with_suffix(".tmp")
        tmp.write_bytes(gzip.compress(archive, compresslevel=6, mtime=0))
        os.replace(tmp, initrd)
    return LinuxImage(kernel=parts / "vmlinuz", initrd=initrd)


# -- checking a disk from the host ----------------------------------------------------------


def check_pattern(image: Path, serial: str) -> list[int]:
    """Indices of the 1 MiB blocks of a raw image whose header is not the guest's pattern
    (empty: the whole disk holds it)."""
    bad = []
    with image.open("rb") as disk:
        size = disk.seek(0, os.SEEK_END)
        for index in range(size // BLOCK):
            expected = block_header(serial, index)
            disk.seek(index * BLOCK)
            if disk.read(len(expected)) != expected:
                bad.append(index)
    return bad
