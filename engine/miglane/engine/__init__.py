"""Miglane engine."""
