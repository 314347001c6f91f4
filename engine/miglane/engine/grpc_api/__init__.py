"""The engine's gRPC surface: servicer, converters, the error map and the server factory."""
