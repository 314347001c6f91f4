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
