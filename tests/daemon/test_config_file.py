"""`--config FILE` of the engine and the agent: the file's keys are the long options, the
command line wins, and a file that cannot be used is refused naming the file and the key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from miglane.cli.main import build_parser
from miglane.daemon import parse_args_with_config
from miglane.daemon.config_file import config_keys
from miglane.engine.config import DEFAULT_AGENT_TIMEOUT_S


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "miglane.toml"
    path.write_text(text)
    return path


def parse(*argv: str) -> argparse.Namespace:
    return parse_args_with_config(build_parser(), list(argv))


def command_parser(name: str) -> argparse.ArgumentParser:
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    return subparsers.choices[name]


@pytest.mark.parametrize("command", ["engine", "agent"])
def test_every_long_option_has_a_key(command: str) -> None:
    parser = command_parser(command)
    options = {
        s[2:]
        for a in parser._actions
        for s in a.option_strings
        if s.startswith("--") and s not in ("--help", "--config")
    }
    assert set(config_keys(parser)) == options
    assert {"listen", "state-dir", "log-level", "log-format", "insecure"} <= options


def test_the_file_gives_values_and_the_command_line_wins(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        'listen = "127.0.0.1:7000"\n'
        "poll-interval = 3\n"
        'state-dir = "/var/lib/miglane"\n'
        "insecure = true\n"
        'log-format = "json"\n',
    )
    args = parse("engine", "--config", str(config), "--poll-interval", "4.5")
    assert args.listen == "127.0.0.1:7000"
    assert args.poll_interval == 4.5  # the flag wins
    assert args.state_dir == Path("/var/lib/miglane")  # converted as the option converts
    assert args.insecure is True
    assert args.log_format == "json"
    assert args.agent_timeout_s == DEFAULT_AGENT_TIMEOUT_S  # neither: the option's default


def test_a_required_option_may_come_from_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, 'listen = "127.0.0.1:0"\nmax-outgoing = 3\n')
    args = parse("agent", "--config", str(config))
    assert (args.listen, args.max_outgoing) == ("127.0.0.1:0", 3)


def test_a_required_option_given_nowhere_is_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, "max-outgoing = 3\n")
    with pytest.raises(SystemExit) as exit_:
        parse("agent", "--config", str(config))
    assert exit_.value.code == 2
    assert "--listen (or listen in --config FILE)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("agent")
    assert "--listen" in capsys.readouterr().err


def test_an_unknown_key_is_refused_naming_it_and_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, 'lisen = "127.0.0.1:7000"\n')
    with pytest.raises(SystemExit) as exit_:
        parse("engine", "--config", str(config))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"config file {config}: unknown key 'lisen'" in err
    assert "listen" in err.split("unknown key")[1]  # the keys it could have meant


@pytest.mark.parametrize(
    ("command", "line", "says"),
    [
        ("engine", 'poll-interval = "fast"', "poll-interval = 'fast': expected a number"),
        ("engine", "poll-interval = 0", "is not a positive number of seconds"),
        ("engine", 'insecure = "yes"', "insecure = 'yes': expected true or false"),
        ("engine", "listen = 50051", "listen = 50051: expected a string"),
        ("engine", 'log-level = "LOUD"', "expected one of DEBUG, INFO, WARNING, ERROR"),
        ("engine", "[engine]\nlisten = 'x:1'", "unknown key 'engine' (a [table]): the keys go"),
        ("agent", "fake-vms = 2.5", "fake-vms = 2.5: expected a whole number"),
        ("agent", "max-outgoing = 0", "must be 1 or more, not 0"),
        ("agent", "poll-interval = true", "poll-interval = True: expected a number"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_saying_what_was_expected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, line: str, says: str
) -> None:
    config = write(tmp_path, line + "\n")
    with pytest.raises(SystemExit) as exit_:
        parse(command, "--listen", "127.0.0.1:0", "--config", str(config))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"config file {config}: " in err
    assert says in err


@pytest.mark.parametrize(
    ("text", "says"),
    [(None, "cannot read config file"), ("listen = ", "is not valid TOML")],
)
def test_a_missing_or_malformed_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, says: str
) -> None:
    config = tmp_path / "engine.toml" if text is None else write(tmp_path, text)
    with pytest.raises(SystemExit) as exit_:
        parse("engine", "--config", str(config))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err and str(config) in err
