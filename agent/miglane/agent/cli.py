"""The `miglane agent` subcommand (not yet built)."""

import argparse


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Adds nothing yet."""
