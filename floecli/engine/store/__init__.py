"""The run store: the interface, its memory and SQLite implementations, and the choice between
them by `common.store-type`."""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from .base import RunStore, StoreState
from .memory import MemoryStore
from .sqlite import SqliteStore

__all__ = ["MemoryStore", "RunStore", "SqliteStore", "StoreState", "make_store"]


def make_store(store_type: str, store_root: str | Path) -> RunStore:
    """The store `common.store-type` names; `local` lives in `<store-root>/store/floe.db`.
    `store_root` is already expanded (floe-reference §1.9.1)."""
    if store_type == "memory":
        return MemoryStore()
    if store_type == "local":
        return SqliteStore(Path(store_root) / "store" / "floe.db")
    raise StoreError(f"{store_type} is not a supported store",
                     hint="common.store-type must be local or memory")
