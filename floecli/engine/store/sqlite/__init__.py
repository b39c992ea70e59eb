"""The SQLite run store (`store-type: local`)."""

from .store import SqliteStore, archive_index, delete_runs

__all__ = ["SqliteStore", "archive_index", "delete_runs"]
