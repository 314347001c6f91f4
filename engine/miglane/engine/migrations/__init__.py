"""Migrations carried out against the agents and the store.

The decisions are the domain's (`placement`, `admission`, `migration_path`, `bandwidth`,
`convergence`, `evacuation`, `progress`, `retry`); these modules carry them out:

- `requests.MigrationRequests`: what the gRPC servicer calls. A migration is written QUEUED.
- `queue.AdmissionQueue`: the one runner admitting queued migrations cluster by cluster within
  the policy's limits; an admitted one becomes PREPARING (destination, network, URI, fallback
  reason and a MIGRATION_FELL_BACK event when it falls back).
- `jobs.JobRunner`: asks the source agent to Migrate. An agent that answers busy, or a
  destination it cannot reach, puts the migration back in the queue for the busy-retry time
  (`busy.BusyMarks`); any other refusal fails it. After a restart, PREPARING records are asked
  about at their source agent.
- `following.JobFollower`: a RUNNING job's progress stream into the ledger, its end with its
  event; a failed automatic migration is rerun elsewhere (a new record), up to 3 hosts.
- `ledger.MigrationLedger`: the one owner of the newest version of each migration (progress
  kept in memory, flushed in batches; WatchMigrations snapshots come from it).
- `cluster_view.ClusterReader`, `bandwidth.BandwidthBalancer`, `arrivals.ArrivalLog` (VM
  whereabouts for the host monitor), `audit.MigrationEvents` (the events written).

Host maintenance is `miglane.engine.maintenance`; the composition root, `miglane.engine.app`.
"""
