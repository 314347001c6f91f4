"""PkiError: every refusal of the PKI, as a sentence saying what to fix."""

from __future__ import annotations


class PkiError(Exception):
    """A certificate, key or PKI directory is missing, malformed or refused; the message says
    what to do about it."""
