"""Prometheus metrics shared by the engine and the agent: `listen` reads `--metrics-listen`
(light, for the command lines), `endpoint` serves a registry from the event loop, and
`grpc_server` counts gRPC requests and their latency per method and status code. Each program's
own figures are its collector (`miglane.engine.metrics`, `miglane.agent.metrics`). Nothing is
re-exported here, so that a command line reading its flags imports no metrics library."""
