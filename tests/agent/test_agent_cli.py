"""`miglane agent` arguments: the defaults are the agent's own constants; limits are checked."""

from __future__ import annotations

import pytest

from miglane.agent.monitor import DEFAULT_POLL_INTERVAL_S
from miglane.agent.service import DEFAULT_MAX_OUTGOING
from miglane.cli.main import build_parser


def test_defaults_are_the_agents_constants() -> None:
    args = build_parser().parse_args(["agent", "--listen", "127.0.0.1:0"])
    assert args.max_outgoing == DEFAULT_MAX_OUTGOING
    assert args.poll_interval == DEFAULT_POLL_INTERVAL_S


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_an_outgoing_limit_below_one_is_refused(limit: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["agent", "--listen", "127.0.0.1:0", "--max-outgoing", limit])
