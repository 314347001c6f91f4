"""The leadership contract between engines, agents and clients, beside the generated code:
the gRPC metadata key carrying the commanding engine's term on every engine-to-agent call, and
the ErrorInfo reasons and metadata keys of the refusals it leads to. Hand-written."""

from __future__ import annotations

# Request metadata of every engine-to-agent call: the leader's term, a decimal integer.
ENGINE_TERM_KEY = "miglane-engine-term"
# FAILED_PRECONDITION from an agent: the call's term is lower than one it has seen.
STALE_ENGINE_TERM = "STALE_ENGINE_TERM"
# UNAVAILABLE from an engine that does not lead; LEADER_ADDRESS_KEY names the one that does.
NOT_LEADER = "NOT_LEADER"
LEADER_ADDRESS_KEY = "leader_address"
# The health service name followers answer NOT_SERVING for, besides EngineService's full name.
ENGINE_HEALTH_NAME = "miglane.v1.EngineService"


def engine_addresses(text: str) -> tuple[str, ...]:
    """The engine addresses of `--engine a,b,c` or `MIGLANE_ENGINE` (comma-separated, spaces
    ignored, repeats dropped); raises ValueError when none is given."""
    addresses = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not addresses:
        raise ValueError(f"no engine address in {text!r}: give HOST:PORT[,HOST:PORT...]")
    return addresses


def is_redirect(code_name: str, reason: str) -> bool:
    """Whether a failed call should be asked of another engine: a follower's NOT_LEADER, or an
    engine that cannot be reached (UNAVAILABLE without a reason)."""
    return code_name == "UNAVAILABLE" and reason in ("", NOT_LEADER)


def next_engine(addresses: tuple[str, ...], current: str, leader_address: str = "") -> str:
    """The engine to ask after `current` failed with a redirect: the leader it named (when it
    named one other than itself), else the next of `addresses` after it, round and round."""
    if leader_address and leader_address != current:
        return leader_address
    if current not in addresses:
        return addresses[0]
    return addresses[(addresses.index(current) + 1) % len(addresses)]
