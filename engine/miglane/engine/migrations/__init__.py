"""Migrations carried out against the agents and the store: the ledger of active migrations,
the admission queue, the agents' jobs, bandwidth, VM whereabouts and the request façade.

The decisions are the domain's (`placement`, `admission`, `migration_path`, `bandwidth`,
`convergence`, `evacuation`, `progress`, `retry`); these modules carry them out. The engine's
composition root (`miglane.engine.app`) builds and wires them.
"""
