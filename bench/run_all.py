"""Runs every benchmark script in bench/ in turn (`make bench`); each prints its own figures."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    failures = []
    for name in names:
        script = BENCH_DIR / f"{name.removesuffix('.py')}.py"
        print(f"\n=== {script.name}", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], check=False)
        print(f"=== {script.name}: exit {result.returncode} in {time.monotonic() - started:.1f} s")
        if result.returncode != 0:
            failures.append(script.name)
    if failures:
        print(f"\nfailed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
