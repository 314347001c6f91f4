"""Running the system tools the lab drives (ip, tc, virsh, apt-get ...)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from .errors import LabError

# Tools the lab needs once its packages are installed, and the package that ships each.
REQUIRED_TOOLS = {
    "ip": "iproute2",
    "tc": "iproute2",
    "tini": "tini",
    "libvirtd": "libvirt-daemon",
    "virsh": "libvirt-clients",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-storage-daemon": "qemu-system-common",
    "as": "binutils",
    "ld": "binutils",
}
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def find_tool(name: str) -> str | None:
    """Full path of a tool, also looking in sbin directories missing from a user's PATH."""
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(_SBIN_DIRS)
    return shutil.which(name, path=path)


def tool(name: str) -> str:
    found = find_tool(name)
    if found is None:
        package = REQUIRED_TOOLS.get(name, name)
        raise LabError(f"{name} not found: install the Debian package {package}")
    return found


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 60,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a command to completion; a failure becomes a LabError quoting its stderr."""
    argv = [tool(argv[0]) if "/" not in argv[0] else argv[0], *argv[1:]]
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            env=env,
            cwd=cwd,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`{' '.join(argv)}` did not finish within {timeout:g} s") from exc
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
        raise LabError(f"`{' '.join(argv)}` failed: {detail}")
    return result
