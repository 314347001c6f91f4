"""The agent's domain core loads without grpc, libvirt, textual or the generated messages, and
only the libvirt driver imports libvirt."""

import pathlib
import subprocess
import sys

AGENT = pathlib.Path(__file__).resolve().parents[2] / "agent" / "miglane" / "agent"


def test_domain_core_imports_nothing_heavy() -> None:
    code = (
        "import sys, pkgutil, importlib, miglane.agent.domain as d\n"
        "for m in pkgutil.iter_modules(d.__path__):\n"
        "    importlib.import_module(f'{d.__name__}.{m.name}')\n"
        "bad = [m for m in ('grpc', 'libvirt', 'textual', 'miglane.v1') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_libvirt_driver_imports_libvirt() -> None:
    importers = {
        path.relative_to(AGENT).as_posix()
        for path in AGENT.rglob("*.py")
        if any(
            line.startswith(("import libvirt", "from libvirt"))
            for line in path.read_text().splitlines()
        )
    }
    assert importers == {"libvirt_driver.py"}
