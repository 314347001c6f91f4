"""Miglane tui."""
