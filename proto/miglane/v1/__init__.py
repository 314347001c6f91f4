"""Generated Protobuf and gRPC code of the miglane.v1 contracts (make proto)."""
