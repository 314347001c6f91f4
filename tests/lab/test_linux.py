"""The Linux guest's pure parts: its initramfs (a newc cpio), its /init, its disk pattern."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest

from miglane.lab.errors import LabError
from miglane.lab.linux import (
    BLOCK,
    DIRTY_PARAM,
    HEADER_MAGIC,
    CpioEntry,
    LinuxPhase,
    block_header,
    check_pattern,
    init_script,
    initramfs_entries,
    kernel_cmdline,
    load_order,
    module_depends,
    write_cpio,
)


def read_cpio(archive: bytes) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    """name -> (mode, data, (rdev major, minor)) of a newc archive, up to its trailer."""
    entries, offset = {}, 0
    while True:
        assert archive[offset : offset + 6] == b"070701"
        fields = [int(archive[offset + 6 + 8 * i : offset + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev, name_size = fields[1], fields[6], (fields[9], fields[10]), fields[11]
        name_start = offset + 110
        name = archive[name_start : name_start + name_size - 1].decode()
        data_start = name_start + name_size + (-(name_start + name_size) % 4)
        data = archive[data_start : data_start + size]
        offset = data_start + size + (-(data_start + size) % 4)
        if name == "TRAILER!!!":
            assert offset == len(archive)
            return entries
        entries[name] = (mode, data, rdev)


def test_initramfs_holds_init_busybox_modules_and_a_console() -> None:
    modules = [("virtio", b"ko-1"), ("virtio_blk", b"ko-2-longer")]
    archive = read_cpio(write_cpio(initramfs_entries(b"\x7fELF-busybox", modules)))
    mode, script, _ = archive["init"]
    assert stat.S_ISREG(mode) and mode & 0o111
    assert script.decode() == init_script(["virtio", "virtio_blk"])
    assert archive["bin/busybox"][1] == b"\x7fELF-busybox"
    assert archive["lib/virtio.ko"][1] == b"ko-1"
    assert archive["lib/virtio_blk.ko"][1] == b"ko-2-longer"
    console_mode, _, rdev = archive["dev/console"]
    assert stat.S_ISCHR(console_mode) and rdev == (5, 1)
    for directory in ("bin", "dev", "lib", "proc", "sys"):
        assert stat.S_ISDIR(archive[directory][0])


def test_cpio_pads_every_entry() -> None:
    entries = [CpioEntry("a", stat.S_IFREG | 0o644, b"x" * n) for n in range(1, 6)]
    archive = write_cpio(entries)
    assert len(archive) % 4 == 0
    assert read_cpio(archive)["a"][1] == b"xxxxx"


def test_init_loads_modules_in_order_and_announces_each_phase() -> None:
    script = init_script(["virtio", "virtio_ring", "virtio_blk"])
    assert script.startswith("#!/bin/busybox sh\n")
    loads = re.findall(r"^insmod /lib/(\w+)\.ko$", script, re.MULTILINE)
    assert loads == ["virtio", "virtio_ring", "virtio_blk"]
    positions = [script.index(f'say "{phase.value}"') for phase in LinuxPhase]
    assert positions == sorted(positions)
    assert f"{DIRTY_PARAM}=*)" in script


def test_the_guest_writes_exactly_the_header_the_host_checks() -> None:
    """The printf of /init, run by a real shell, gives `block_header`."""
    printf = re.search(r"printf '([^']*)' \"\$serial\" \$i", init_script([]))
    assert printf is not None
    written = subprocess.run(
        ["sh", "-c", f"printf '{printf.group(1)}' vda-123 7"], capture_output=True, check=True
    ).stdout
    assert written == block_header("vda-123", 7)
    assert written.startswith(HEADER_MAGIC.encode())


def test_check_pattern_names_the_blocks_that_lost_their_header(tmp_path: Path) -> None:
    image = tmp_path / "disk.raw"
    with image.open("wb") as disk:
        disk.truncate(4 * BLOCK)
        for index in (0, 1, 3):
            disk.seek(index * BLOCK)
            disk.write(block_header("vda-1", index))
    assert check_pattern(image, "vda-1") == [2]
    assert check_pattern(image, "vdb-1") == [0, 1, 2, 3]


def test_modules_load_after_what_they_depend_on(tmp_path: Path) -> None:
    def module(name: str, depends: str) -> Path:
        path = tmp_path / f"{name}.ko"
        path.write_bytes(b"\x7fELF\0license=GPL\0depends=" + depends.encode() + b"\0name=x\0")
        return path

    available = {
        "virtio_blk": module("virtio_blk", "virtio,virtio_ring"),
        "virtio_ring": module("virtio_ring", "virtio"),
        "virtio": module("virtio", ""),
        "virtio_pci": module("virtio_pci", "virtio,virtio_ring"),
    }
    assert module_depends(available["virtio_blk"].read_bytes()) == ["virtio", "virtio_ring"]
    assert module_depends(available["virtio"].read_bytes()) == []
    order = load_order(["virtio_pci", "virtio_blk"], available)
    assert order == ["virtio", "virtio_ring", "virtio_pci", "virtio_blk"]
    with pytest.raises(LabError, match="virtio_net"):
        load_order(["virtio_net"], available)


def test_kernel_cmdline_has_the_serial_console_and_dirty_setting() -> None:
    cmdline = kernel_cmdline(16).split()
    assert "console=ttyS0" in cmdline
    assert f"{DIRTY_PARAM}=16" in cmdline
