"""The SQLite run store (`store-type: local`), in four rooms:

- store.py: SqliteStore, the RunStore interface: which statements each write queues and which
  query answers each read;
- writer.py: the one thread that owns the database: batches, group commit, retries with a
  growing delay while the disk refuses writes (`problem`), flush barriers;
- journal.py: the intake journal (`floe.db.intake`), which makes a pend durable before
  add_pend returns and is replayed when the store opens;
- sql.py: the schema, the statements, opening the database, rows read back as records.
"""

from .sql import archive_index, delete_runs, live_rerun_sources
from .store import SqliteStore

__all__ = ["SqliteStore", "archive_index", "delete_runs", "live_rerun_sources"]
