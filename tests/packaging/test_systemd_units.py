"""The systemd units in packaging/systemd and the example configs in packaging/config: each
unit's ExecStart runs a real command whose options (and its example config) parse, the paths
the config names are the directories the unit gives, and `systemd-analyze verify` finds
nothing to say (where it is installed)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path, PurePosixPath

import pytest

from miglane.cli.main import build_parser
from miglane.daemon import parse_args_with_config

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
INSTALLED_COMMAND = "/opt/miglane/bin/miglane"
# unit, program, its example config, the user it runs as
UNITS = [
    ("miglane-engine.service", "engine", "engine.toml", "miglane"),
    ("miglane-agent.service", "agent", "agent.toml", "root"),
]


def read_unit(path: Path) -> dict[str, list[str]]:
    """`Section.Key` -> its values (systemd keys may repeat)."""
    values: dict[str, list[str]] = defaultdict(list)
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        values[f"{section}.{key.strip()}"].append(value.strip())
    return values


@pytest.mark.parametrize(("unit", "program", "config", "user"), UNITS)
def test_exec_start_runs_the_program_with_its_example_config(
    unit: str, program: str, config: str, user: str
) -> None:
    values = read_unit(PACKAGING / "systemd" / unit)
    (exec_start,) = values["Service.ExecStart"]
    binary, *argv = shlex.split(exec_start)
    assert binary == INSTALLED_COMMAND
    assert argv[:2] == [program, "--config"]
    (config_dir,) = values["Service.ConfigurationDirectory"]
    assert PurePosixPath(argv[2]) == PurePosixPath("/etc", config_dir, config)

    example = PACKAGING / "config" / config
    args = parse_args_with_config(build_parser(), [program, "--config", str(example)])
    state_dirs = [PurePosixPath("/var/lib", d) for d in values["Service.StateDirectory"][0].split()]
    assert PurePosixPath(args.state_dir) in state_dirs
    if program == "agent":
        assert PurePosixPath(args.save_dir) in state_dirs
        assert PurePosixPath(args.credentials).parent == PurePosixPath("/etc", config_dir)
    assert args.log_format == "json"

    assert values["Service.User"] == [user]
    for hardening, wanted in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict")):
        assert values[f"Service.{hardening}"] == [wanted], hardening


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize(("unit", "program", "config", "user"), UNITS)
def test_systemd_analyze_verify_finds_nothing_to_say(
    tmp_path: Path, unit: str, program: str, config: str, user: str
) -> None:
    # verify wants the command to exist: this venv's stands in for /opt/miglane's.
    text = (PACKAGING / "systemd" / unit).read_text()
    here = str(Path(sys.executable).with_name("miglane"))
    (tmp_path / unit).write_text(text.replace(INSTALLED_COMMAND, here))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    said = [line for line in (result.stdout + result.stderr).splitlines() if unit in line]
    assert result.returncode == 0 and said == [], result.stdout + result.stderr
