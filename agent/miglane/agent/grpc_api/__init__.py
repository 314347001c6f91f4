"""The agent's gRPC face: thin servicer, converters, one error map, the server factory."""
