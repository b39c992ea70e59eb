"""The run store: the interface, its memory, SQLite and PostgreSQL implementations, and the
choice between them by `common.store-type`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import StoreError
from ..flow import ClusterTiming
from .base import RunStore, StoreState
from .memory import MemoryStore
from .sqlite import SqliteStore

__all__ = ["MemoryStore", "RunStore", "SqliteStore", "StoreState", "make_store", "store_url"]

STORE_URL_ENV = "FLOE_STORE_URL"


def store_url(configured: str = "") -> str:
    """The PostgreSQL URL: FLOE_STORE_URL (where a password may go), else common.store-url."""
    return os.environ.get(STORE_URL_ENV, "").strip() or configured


def make_store(store_type: str, store_root: str | Path, *, url: str = "", host: str = "",
               tags: Sequence[str] = (), timing: ClusterTiming | None = None) -> RunStore:
    """The store `common.store-type` names; `local` lives in `<store-root>/store/floe.db`,
    `postgres` in the database of `url` (or FLOE_STORE_URL), shared by the hosts named
    `host`. `store_root` is already expanded (floe-reference §1.9.1)."""
    if store_type == "memory":
        return MemoryStore()
    if store_type == "local":
        return SqliteStore(Path(store_root) / "store" / "floe.db")
    if store_type == "postgres":
        resolved = store_url(url)
        if not resolved:
            raise StoreError("store-type postgres needs the database's URL",
                             hint=f"set common.store-url (postgresql://user@host:port/db) or "
                                  f"{STORE_URL_ENV}")
        try:
            # Imported only here: the default install has no psycopg.
            from .postgres import PostgresStore
        except ImportError as e:
            raise StoreError(f"store-type postgres needs psycopg: {e}",
                             hint="pip install 'floecli-engine[postgres]'") from None
        from .postgres import ClusterSettings

        t = timing or ClusterTiming()
        direct = t.pooler != "transaction"
        return PostgresStore(resolved, host=host, tags=tags, settings=ClusterSettings(
            heartbeat=t.heartbeat, lease=t.lease, poll=t.poll, listen=direct, prepared=direct))
    raise StoreError(f"{store_type} is not a supported store",
                     hint="common.store-type must be local, memory or postgres")
