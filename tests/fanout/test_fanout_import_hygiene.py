"""miglane.fanout is shared by the engine and the agent, so it loads no other miglane package
and none of grpc, textual or libvirt: checked in a fresh interpreter, over every module."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "common" / "miglane" / "fanout"
FORBIDDEN = ("grpc", "textual", "libvirt")


def test_fanout_loads_nothing_of_the_rest_of_miglane() -> None:
    script = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        import miglane.fanout as fanout
        names = [m.name for m in pkgutil.walk_packages(fanout.__path__, fanout.__name__ + ".")]
        for name in names:
            importlib.import_module(name)
        forbidden = {FORBIDDEN!r}
        leaked = sorted(
            m for m in sys.modules
            if any(m == f or m.startswith(f + ".") for f in forbidden)
            or (m.startswith("miglane.") and not m.startswith("miglane.fanout"))
        )
        print(len(names))
        print(",".join(leaked))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    count, leaked = result.stdout.splitlines()
    # Every module of the package was imported (a broken walk would check nothing).
    assert int(count) == len(list(PACKAGE_DIR.glob("[!_]*.py")))
    assert leaked == ""
