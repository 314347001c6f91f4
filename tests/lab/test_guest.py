"""The guest kernel: it builds from the packaged source into a multiboot ELF."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from miglane.lab.commands import find_tool
from miglane.lab.guest import (
    FILL_START,
    PAGE,
    PAGE_MARK,
    STATUS_ADDR,
    STATUS_MAGIC,
    STATUS_PASSES_OFFSET,
    STATUS_PHASE_OFFSET,
    GuestPhase,
    build_guest_kernel,
    fill_end,
    guest_source,
    page_marker,
    sample_pages,
)

MULTIBOOT_MAGIC = 0x1BADB002


def assembler_constants(source: str) -> dict[str, int]:
    """Every `.set NAME, VALUE` of the guest's source."""
    return {
        name: int(value, 0)
        for name, value in re.findall(r"^\s*\.set\s+(\w+),\s*(\w+)", source, re.MULTILINE)
    }


def test_source_is_packaged_and_mirrors_our_constants() -> None:
    source = guest_source().decode()
    constants = assembler_constants(source)
    assert constants["PAGE"] == PAGE
    assert constants["FILL_START"] == FILL_START
    assert constants["PAGE_MARK"] == PAGE_MARK
    assert constants["STATUS"] == STATUS_ADDR
    assert constants["STATUS_MAGIC"] == STATUS_MAGIC
    for phase in GuestPhase:
        assert constants[f"PHASE_{phase.name}"] == phase.value
        assert f"movl $PHASE_{phase.name}, STATUS+{STATUS_PHASE_OFFSET}" in source
        assert f'.asciz "{phase.serial_line}\\n"' in source
    assert f"incl STATUS+{STATUS_PASSES_OFFSET}" in source


@pytest.mark.skipif(find_tool("as") is None, reason="binutils (as, ld) not installed")
def test_builds_a_multiboot_elf_once(tmp_path: Path) -> None:
    kernel = build_guest_kernel(tmp_path)
    data = kernel.read_bytes()
    assert data[:4] == b"\x7fELF"
    assert len(data) < 64 * 1024
    # the multiboot header sits in the first 8 KiB, 4-byte aligned, with a valid checksum
    offset = next(
        i for i in range(0, 8192, 4) if struct.unpack_from("<I", data, i)[0] == MULTIBOOT_MAGIC
    )
    magic, flags, checksum = struct.unpack_from("<III", data, offset)
    assert (magic + flags + checksum) & 0xFFFFFFFF == 0
    mtime = kernel.stat().st_mtime_ns
    assert build_guest_kernel(tmp_path) == kernel
    assert kernel.stat().st_mtime_ns == mtime


def test_sample_pages_cover_the_filled_range() -> None:
    pages = sample_pages(256, count=16)
    assert len(pages) == 16
    assert pages[0] == FILL_START
    assert pages[-1] == fill_end(256) - PAGE == 256 * 1024 * 1024 - PAGE
    assert all(page % PAGE == 0 for page in pages)
    assert pages == sorted(set(pages))


def test_page_marker_is_never_zero() -> None:
    assert all(page_marker(page) != 0 for page in sample_pages(3072, count=1000))
