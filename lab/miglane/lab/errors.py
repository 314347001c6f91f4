"""The one error type of the lab: a message a person can act on, never a traceback."""

from __future__ import annotations


class LabError(Exception):
    """Raised when the lab cannot do what was asked; the message says what to do about it."""
