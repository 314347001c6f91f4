"""The README's "Deploying on real hosts" is followed by operators to the letter: every
`miglane` command in it exists with the options it is given there, the example files and units
it copies exist, and its ports are the ones the lab and the code use."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from miglane.cli.main import build_parser
from miglane.lab.plan import LIBVIRTD_TLS_PORT, MIGRATION_PORT_MAX, MIGRATION_PORT_MIN

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Deploying on real hosts"
INSTALLED_COMMAND = "/opt/miglane/bin/miglane"


def section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return text[start:end]


def commands() -> list[list[str]]:
    """The argv (after `miglane`) of every miglane command in the section's code blocks."""
    blocks = re.findall(r"```sh\n(.*?)```", section(), re.S)
    found = []
    for line in "\n".join(blocks).splitlines():
        words = shlex.split(line, comments=True)
        if INSTALLED_COMMAND in words:
            found.append(words[words.index(INSTALLED_COMMAND) + 1 :])
    return found


def test_the_section_has_the_commands_it_is_for() -> None:
    verbs = {tuple(argv[:2]) for argv in commands()}
    assert {("pki", "init"), ("pki", "issue"), ("pki", "issue-host"), ("hosts", "add")} <= verbs


@pytest.mark.parametrize("argv", commands(), ids=lambda argv: " ".join(argv[:2]))
def test_every_command_parses_as_written(argv: list[str]) -> None:
    build_parser().parse_args(argv)  # exits (failing the test) on an unknown option


def test_the_files_it_copies_exist() -> None:
    for path in set(re.findall(r"packaging/[\w/.-]+", section())):
        assert (REPO / path).is_file(), path


def test_its_ports_are_the_ones_in_use() -> None:
    text = section()
    assert f"{LIBVIRTD_TLS_PORT}/tcp" in text
    assert f"{MIGRATION_PORT_MIN}-{MIGRATION_PORT_MAX}/tcp" in text
    assert f"migration_port_min = {MIGRATION_PORT_MIN}" in text
    assert f"migration_port_max = {MIGRATION_PORT_MAX}" in text
