"""In-memory engine parts for tests, benches and demos that run without an engine."""

from miglane.tui.testing.fake_engine import FakeEngineClient
from miglane.tui.testing.scenario import demo_engine

__all__ = ["FakeEngineClient", "demo_engine"]
