"""Miglane lab."""
