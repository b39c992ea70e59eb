"""The PostgreSQL run store (`store-type: postgres`): hosts pointed at one database share it
and coordinate through it (claims, leases, commands, wake-ups). Importing this package
imports psycopg: floecli.engine.store does so only when the store type is postgres."""

from __future__ import annotations

from .claims import Command, Reaped
from .store import ClusterSettings, Fenced, PostgresStore, redact_url

__all__ = ["ClusterSettings", "Command", "Fenced", "PostgresStore", "Reaped",
           "redact_url"]
