"""The lab guest kernel: built from `guest_kernel/dirtier.S`, plus what the host needs to read it.

The constants mirror the assembly source; tests use them to check a guest's memory after a
migration (virDomainMemoryPeek at `sample_pages`, expecting `page_marker(addr)`).
"""

from __future__ import annotations

import enum
import hashlib
import os
import tempfile
from importlib import resources
from pathlib import Path

from .commands import run

PAGE = 4096
FILL_START = 0x200000
PAGE_MARK = 0x4D474C00
STATUS_ADDR = 0x1FF000
STATUS_MAGIC = 0x534C474D
# Dwords of the status block: the phase the guest is in, and its dirtying passes so far.
STATUS_PHASE_OFFSET = 4
STATUS_PASSES_OFFSET = 12
SERIAL_PREFIX = "miglane-guest: "


class GuestPhase(enum.IntEnum):
    BOOTED = 1
    FILLED = 2
    DIRTYING = 3
    HALTED = 4

    @property
    def serial_line(self) -> str:
        return f"{SERIAL_PREFIX}{self.name.lower()}"


def guest_source() -> bytes:
    return (resources.files("miglane.lab") / "guest_kernel" / "dirtier.S").read_bytes()


def page_marker(addr: int) -> int:
    """The dword the guest writes at offset 0 of the page at `addr`."""
    return addr ^ PAGE_MARK


def fill_end(memory_mib: int) -> int:
    """End of the guest's filled memory: the top of its RAM."""
    return memory_mib * 1024 * 1024


def sample_pages(memory_mib: int, count: int = 16) -> list[int]:
    """Page addresses spread over the filled range, first and last page included."""
    first, last = FILL_START, fill_end(memory_mib) - PAGE
    if count < 2 or last <= first:
        return [first]
    step = ((last - first) // (count - 1)) & ~(PAGE - 1)
    return [*(first + i * step for i in range(count - 1)), last]


def build_guest_kernel(dest_dir: Path) -> Path:
    """Assembles and links the kernel once per source version; returns the ELF's path."""
    source = guest_source()
    digest = hashlib.sha256(source).hexdigest()[:12]
    kernel = dest_dir / f"dirtier-{digest}.elf"
    if kernel.exists():
        return kernel
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        src, obj, elf = Path(tmp, "dirtier.S"), Path(tmp, "dirtier.o"), Path(tmp, "dirtier.elf")
        src.write_bytes(source)
        run(["as", "--32", "-o", str(obj), str(src)])
        # -N: a single RWX segment at 1 MiB. With the default layout the ELF headers get a
        # segment below 1 MiB, which QEMU's multiboot loader would place over the BIOS area.
        run(
            [
                "ld",
                "-m",
                "elf_i386",
                "-N",
                "-Ttext=0x100000",
                "-e",
                "_start",
                "-o",
                str(elf),
                str(obj),
            ]
        )
        os.replace(elf, kernel)
    kernel.chmod(0o644)
    return kernel
