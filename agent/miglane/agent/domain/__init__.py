"""The agent's pure core: values, decisions and validation, free of grpc, libvirt and protobuf.

Everything here is deterministic and cheap, so it is tested with tables
(`tests/agent/test_domain_*.py`) and reused by both hypervisor drivers.
"""
