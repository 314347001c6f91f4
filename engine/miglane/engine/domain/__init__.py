"""The engine's domain core: inventory values, errors and the rules, as pure code.

Nothing here imports grpc, textual, libvirt or the generated `miglane.v1` messages (an
import-linter contract and a test hold it to that).
"""
