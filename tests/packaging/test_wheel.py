"""The wheel `python -m build` makes, installed into a fresh virtualenv, is a working `miglane`
that needs nothing of the source tree: the commands answer, the files read at run time are in
it, and the engine and an agent started from it with config files serve on loopback.

The fresh venv gets the wheel with `--no-deps`; its dependencies come from the project's own
venv, added as a plain path (so the editable install's finder there, which points into the
source tree, is never activated), so that no network is needed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
# What a build reads: setup.py names the source roots.
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md")
COMMAND_TIMEOUT_S = 120
START_TIMEOUT_S = 60.0
# Read at run time, so they must travel in the wheel (package, resource).
RUNTIME_FILES = [
    ("miglane.tui", "miglane.tcss"),
    ("miglane.lab", "guest_kernel/dirtier.S"),
    ("miglane.v1", "engine.proto"),
    ("miglane.v1", "agent.proto"),
    ("miglane.v1", "common.proto"),
]


def source_roots() -> list[str]:
    text = (REPO / "setup.py").read_text()
    match = re.search(r"SOURCE_ROOTS = \[(.*?)\]", text)
    assert match, "setup.py names its SOURCE_ROOTS"
    return re.findall(r'"([^"]+)"', match.group(1))


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `bin` directory of a fresh venv holding the wheel built from a copy of the tree."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.pyc")
    for root in source_roots():
        shutil.copytree(REPO / root, source / root, ignore=ignore)
    for name in BUILD_INPUTS:
        shutil.copy2(REPO / name, source / name)
    dist = base / "dist"
    run(
        sys.executable,
        "-m",
        "build",
        "--wheel",
        "--no-isolation",
        "--outdir",
        dist,
        ".",
        cwd=source,
    )
    (wheel,) = dist.glob("miglane-*.whl")
    shutil.rmtree(source)  # from here on there is no source tree to lean on

    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base
    )
    project_packages = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib.strip(), "project-dependencies.pth").write_text("\n".join(project_packages) + "\n")
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--disable-pip-version-check", "-q", wheel, cwd=base,
    )  # fmt: skip
    yield venv / "bin"


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MIGLANE_"))}
    env["HOME"] = str(home)
    env.pop("XDG_STATE_HOME", None)
    env.pop("XDG_CONFIG_HOME", None)
    return env


def test_the_installed_commands_answer(installed: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    assert "engine" in run(installed / "miglane", "--help", cwd=tmp_path, env=env)
    for program in ("engine", "agent"):
        usage = run(installed / "miglane", program, "--help", cwd=tmp_path, env=env)
        assert "--config FILE" in usage and "--log-format" in usage
    for command in (["tui"], ["lab", "up"], ["pki", "issue-host"]):
        assert "usage: miglane" in run(
            installed / "miglane", *command, "--help", cwd=tmp_path, env=env
        )


def test_everything_it_reads_at_run_time_is_in_the_venv(installed: Path, tmp_path: Path) -> None:
    script = f"""
import importlib.resources as r, json, sys
import miglane.cli.main, miglane.engine.runner, miglane.agent.cli
import miglane.tui.app, miglane.lab.guest
found = {{}}
for package, name in {RUNTIME_FILES!r}:
    found[package + "/" + name] = str(r.files(package).joinpath(name))
found["tcss"] = str(miglane.tui.app.MiglaneApp.CSS_PATH)
found["guest"] = str(len(miglane.lab.guest.guest_source()))
found["modules"] = sorted({{m.__file__ for m in sys.modules.values()
    if m.__name__.startswith("miglane") and getattr(m, "__file__", None)}})
print(json.dumps(found))
"""
    found = json.loads(
        run(installed / "python", "-c", script, cwd=tmp_path, env=clean_env(tmp_path))
    )
    site = str(installed.parent)
    assert all(path.startswith(site) for path in found.pop("modules"))
    assert int(found.pop("guest")) > 0
    for path in found.values():
        assert path.startswith(site) and Path(path).is_file(), path


def wait_for_line(process: subprocess.Popen[bytes], log: Path, pattern: re.Pattern[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        match = pattern.search(log.read_text())
        if match:
            return match.group(1)
        assert process.poll() is None, log.read_text()
        time.sleep(0.05)
    raise AssertionError(f"no {pattern.pattern!r} within {START_TIMEOUT_S:g} s:\n{log.read_text()}")


def start(argv: list[str | Path], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_the_installed_engine_serves_from_a_config_file(installed: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    miglane = installed / "miglane"
    pki = tmp_path / "pki"
    run(miglane, "pki", "init", "--pki-dir", pki, cwd=tmp_path, env=env)
    admin = tmp_path / "admin"
    run(
        miglane,
        "pki",
        "issue",
        "ops",
        "--role",
        "admin",
        "--out",
        admin,
        "--pki-dir",
        pki,
        cwd=tmp_path,
        env=env,
    )
    config = tmp_path / "engine.toml"
    config.write_text(
        f'listen = "127.0.0.1:0"\nstate-dir = "{tmp_path / "state"}"\npki-dir = "{pki}"\n'
    )
    process = start([miglane, "engine", "--config", config], tmp_path / "engine.log", env)
    try:
        address = wait_for_line(
            process, tmp_path / "engine.log", re.compile(r"engine listening on (\S+)")
        )
        listed = run(
            miglane,
            "clusters",
            "list",
            "--engine",
            address,
            "--credentials",
            admin,
            "--json",
            cwd=tmp_path,
            env=env,
        )
        assert json.loads(listed) == []
    finally:
        stop(process)
    assert process.returncode == 0


def test_the_installed_agent_serves_from_a_config_file(installed: Path, tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        'listen = "127.0.0.1:0"\ndriver = "fake"\ninsecure = true\nlog-format = "json"\n'
    )
    log = tmp_path / "agent.log"
    process = start([installed / "miglane", "agent", "--config", config], log, clean_env(tmp_path))
    try:
        wait_for_line(
            process, log, re.compile(r'"message": "(agent listening on 127\.0\.0\.1:\d+)')
        )
    finally:
        stop(process)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(line["host"] for line in lines)  # every agent line names its host
