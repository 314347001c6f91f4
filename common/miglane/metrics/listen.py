"""`--metrics-listen ADDR:PORT` of the engine and the agent: read once, here."""

from __future__ import annotations

# `--metrics-listen off`: no endpoint.
METRICS_OFF = "off"


def parse_metrics_listen(text: str) -> tuple[str, int] | None:
    """HOST:PORT (IPv6 bracketed) -> (host, port); "off" (or empty) -> None. Raises ValueError
    saying what to write instead."""
    text = text.strip()
    if text.lower() in (METRICS_OFF, ""):
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r}: expected HOST:PORT (e.g. 127.0.0.1:9464) or {METRICS_OFF!r}")
    return host.strip("[]"), int(port)


def metrics_listen_argument(text: str) -> str:
    """`--metrics-listen` as an argparse type: the text, once it parses."""
    import argparse

    try:
        parse_metrics_listen(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text
