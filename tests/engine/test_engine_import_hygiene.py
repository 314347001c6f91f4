"""The domain core imports no grpc, textual, libvirt or generated messages: checked in a fresh
interpreter, over every module of the package (including those added later)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "engine"
FORBIDDEN = ("grpc", "textual", "libvirt", "miglane.v1", "google.protobuf")


def test_domain_imports_none_of_the_outer_layers() -> None:
    script = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        import miglane.engine.domain as domain
        names = [m.name for m in pkgutil.walk_packages(domain.__path__, domain.__name__ + ".")]
        for name in names:
            importlib.import_module(name)
        forbidden = {FORBIDDEN!r}
        leaked = sorted(
            m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden)
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
    assert int(count) == len(list((ROOT / "miglane" / "engine" / "domain").glob("[!_]*.py")))
    assert leaked == ""
