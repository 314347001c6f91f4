"""The operator's views: one per tab."""

from miglane.tui.views.events import EventsView
from miglane.tui.views.hosts import HostsView
from miglane.tui.views.migrations import MigrationsView
from miglane.tui.views.networks import NetworksView
from miglane.tui.views.vms import VmsView

__all__ = ["EventsView", "HostsView", "MigrationsView", "NetworksView", "VmsView"]
