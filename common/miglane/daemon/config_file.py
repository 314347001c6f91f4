"""`--config FILE`: a TOML file whose keys are a command's own long flags without the dashes
(`listen = "0.0.0.0:50051"`, `insecure = true`). The argparse definitions are the one owner of
the keys, their types and their checks; a flag given on the command line wins over the file.

    parser = argparse.ArgumentParser(prog="miglane engine")
    parser.add_argument("--listen", ...)
    add_config_option(parser)                 # after the command's other options
    args = parse_args_with_config(parser, argv)
"""

from __future__ import annotations

import argparse
import tomllib
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_DEST = "config"
_COMMAND_DEST = "_configurable_command"


@dataclass(frozen=True)
class _ConfigurableCommand:
    parser: argparse.ArgumentParser
    # Options argparse must not demand on the command line, since the file may give them:
    # checked once the file is read.
    required: tuple[argparse.Action, ...]


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Adds `--config FILE` to `parser` (a command or a subcommand's parser). Call it after the
    command's other options: those it sees are the file's keys."""
    required = tuple(a for a in parser._actions if a.required and a.option_strings)
    for action in required:
        action.required = False
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="a TOML file whose keys are these long options without the dashes "
        '(listen = "0.0.0.0:50051", insecure = true); options given here win over the file',
    )
    parser.set_defaults(**{_COMMAND_DEST: _ConfigurableCommand(parser, required)})


def parse_args_with_config(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """Parses `argv`; when the chosen command has `--config FILE`, the file's values become
    the command's defaults and `argv` is parsed again, so the command line wins. Errors (a
    missing or malformed file, an unknown key, a value of the wrong type) end the program
    through the command's parser, with exit status 2, naming the file and the key."""
    args = parser.parse_args(argv)
    command: _ConfigurableCommand | None = getattr(args, _COMMAND_DEST, None)
    if command is None:
        return args
    config_path: Path | None = getattr(args, CONFIG_DEST)
    if config_path is not None:
        try:
            values = read_config_file(command.parser, config_path)
        except ConfigFileError as error:
            command.parser.error(str(error))
        command.parser.set_defaults(**values)
        args = parser.parse_args(argv)
    missing = [a for a in command.required if getattr(args, a.dest, None) is None]
    if missing:
        names = ", ".join(
            f"{a.option_strings[-1]} (or {config_key(a)} in --config FILE)" for a in missing
        )
        command.parser.error(f"the following options are required: {names}")
    return args


class ConfigFileError(Exception):
    """The file cannot be used; the message names the file and what to fix."""


def config_key(action: argparse.Action) -> str:
    """The key of an option in a config file: its long name without the dashes."""
    longs = [s for s in action.option_strings if s.startswith("--")]
    return (longs or action.option_strings)[0].lstrip("-")


def config_keys(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every key a config file of `parser`'s command may hold, with the option it sets."""
    return {
        config_key(a): a
        for a in parser._actions
        if a.option_strings
        and a.dest not in (CONFIG_DEST, argparse.SUPPRESS)
        and not isinstance(a, argparse._HelpAction | argparse._VersionAction)
    }


def read_config_file(parser: argparse.ArgumentParser, path: Path) -> dict[str, Any]:
    """The file's values by option destination, checked and converted as the options' own
    types and choices would check and convert them."""
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except OSError as error:
        raise ConfigFileError(f"cannot read config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"config file {path} is not valid TOML: {error}") from None
    keys = config_keys(parser)
    values: dict[str, Any] = {}
    for key, value in table.items():
        action = keys.get(key)
        if action is None and isinstance(value, dict):
            raise ConfigFileError(
                f"config file {path}: unknown key {key!r} (a [table]): the keys go at the top "
                "of the file, without tables"
            )
        if action is None:
            raise ConfigFileError(
                f"config file {path}: unknown key {key!r}; the keys are the long options "
                f"of `{parser.prog}` without the dashes: {', '.join(sorted(keys))}"
            )
        try:
            values[action.dest] = _option_value(action, value)
        except ValueError as error:
            raise ConfigFileError(f"config file {path}: {key} = {value!r}: {error}") from None
    return values


def _option_value(action: argparse.Action, value: object) -> Any:
    if action.nargs == 0:  # store_true, store_false, store_const: the flag given or not
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return action.const if value else action.default
    if isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+"):
        if not isinstance(value, list):
            raise ValueError('expected a list, e.g. ["a", "b"]')
        return [_one_value(action, item) for item in value]
    return _one_value(action, value)


def _one_value(action: argparse.Action, value: object) -> Any:
    kind = _value_kind(action.type)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expected a number")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected a whole number")
    elif not isinstance(value, str):
        raise ValueError('expected a string (in quotes: "…")')
    converted = value
    if action.type is not None:
        convert = typing.cast(Callable[[str], Any], action.type)
        try:
            converted = convert(value if isinstance(value, str) else str(value))
        except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
            raise ValueError(str(error) or "not a valid value") from None
    if action.choices is not None and converted not in action.choices:
        raise ValueError(f"expected one of {', '.join(map(str, action.choices))}")
    return converted


def _value_kind(convert: object) -> type:
    """The TOML type an option's values must have: a number for float options, a whole number
    for int options, else a string; a custom converter says which by its return annotation."""
    if convert in (int, float):
        return typing.cast(type, convert)
    if convert is None or isinstance(convert, type):
        return str
    try:
        returned = typing.get_type_hints(convert).get("return")
    except Exception:  # an annotation that does not resolve: take the value as text
        return str
    return returned if returned in (int, float) else str
