"""Widgets the views are made of."""
