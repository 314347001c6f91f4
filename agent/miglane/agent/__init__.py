"""Miglane agent."""
