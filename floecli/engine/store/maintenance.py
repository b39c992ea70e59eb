"""Work on an engine's run store from outside the engine: `floe store backup` (while it runs
or not) and `floe prune`.

SQLite: both open the database file with their own connection. WAL lets the backup (SQLite's
online backup) read beside a running engine; pruning waits for the engine to stop (it prunes
by itself, and would not hear of rows removed under it) and goes in small transactions.
PostgreSQL (store/postgres/offline.py): the same statements the engine runs over a plain
connection, and pg_dump for the backup; pruning removes the share of the host named
(`--host_name`), whose workspaces are on this machine, while the hosts run.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config.expand import expand_path
from ..config.roots import default_root
from ..errors import StoreError
from ..flow import AppConfig
from . import STORE_URL_ENV, store_url
from .base import ArchivedRun
from .sqlite import archive_index, delete_runs, live_rerun_sources

BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class StoreLocation:
    db: Path  # the SQLite file; unused when `url` names a PostgreSQL database
    workspace_root: Path
    url: str = ""  # store-type postgres: the database (store-url or FLOE_STORE_URL)
    host: str = "h1"  # the engine's -host_name: on a shared database, whose share to prune


def locate(config: AppConfig, root: str = "", host_name: str = "h1",
           project: str = "") -> StoreLocation:
    """Where the engine of `config` (with `-root=root`, `-host_name`, in engine project
    `project`) keeps its store and workspaces, as Engine resolves them."""
    common = config.common
    if common.store_type not in ("local", "postgres"):
        raise StoreError(f"store-type {common.store_type} keeps nothing to back up or prune",
                         hint="backup and prune work on store-type local and postgres")
    try:
        raw_root = root or default_root(common.workspace_root, host_name, project)
        raw_store = root or (default_root(common.store_root, host_name, project)
                             if common.store_root else raw_root)
        ws_root = expand_path(raw_root)
        store_root = ws_root if raw_store == raw_root else expand_path(raw_store)
    except ValueError as e:
        raise StoreError(f"common.workspace-root: {e}") from None
    url = ""
    if common.store_type == "postgres":
        url = store_url(common.store_url)
        if not url:
            raise StoreError("store-type postgres needs the database's URL",
                             hint=f"set common.store-url or {STORE_URL_ENV}")
    return StoreLocation(Path(store_root).resolve() / "store" / "floe.db",
                         Path(ws_root).resolve(), url, host_name)


def _connect(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        raise StoreError(f"no run store at {db}",
                         hint="give the engine's -conf and -root (--conf, --root)")
    try:
        conn = sqlite3.connect(db, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.Error as e:
        raise StoreError(f"cannot open the run store {db}: {e}") from None
    return conn


@dataclass(frozen=True)
class BackupResult:
    path: Path
    archived: int
    integrity: str


def backup(loc: StoreLocation, dest: Path) -> BackupResult:
    """A consistent copy of the store at `dest`: SQLite's online backup, or pg_dump's custom
    format for a PostgreSQL store."""
    if not loc.url:
        return backup_sqlite(loc.db, dest)
    from .postgres import offline

    dest = dest.resolve()
    offline.dump(loc.url, dest)
    return BackupResult(dest, offline.count_archived(loc.url), "pg_dump ok")


def backup_sqlite(db: Path, dest: Path) -> BackupResult:
    """A consistent copy of the store at `dest`, taken with SQLite's online backup in one
    step (one read snapshot, whatever the engine writes meanwhile), checked with
    `PRAGMA integrity_check` before it is moved into place."""
    src = _connect(db)
    dest = dest.resolve()
    if dest == db.resolve():
        raise StoreError("the backup file must not be the store itself")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)  # sessions are in it
        os.close(fd)
        out = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(out)  # pages=-1: every page in one step, one snapshot
            # A self-contained file: the copy is not a WAL database needing its -wal.
            out.execute("PRAGMA journal_mode = DELETE")
            integrity = out.execute("PRAGMA integrity_check").fetchone()[0]
            archived = out.execute(
                "SELECT count(*) FROM runs WHERE state = 'archive'").fetchone()[0]
        finally:
            out.close()
        if integrity != "ok":
            raise StoreError(f"the backup failed its integrity check: {integrity}")
        os.replace(tmp, dest)
    except (OSError, sqlite3.Error) as e:
        raise StoreError(f"backing up {db} to {dest} failed: {e}") from None
    finally:
        src.close()
        tmp.unlink(missing_ok=True)
    return BackupResult(dest, archived, integrity)


def prune_candidates(loc: StoreLocation, config: AppConfig, at: float | None = None
                     ) -> tuple[list[ArchivedRun], list[ArchivedRun]]:
    """The archived runs retention removes, and the runs that stay whose workspace alone
    goes (`retention.workspaces`); on a shared database, the share of host `loc.host`."""
    from ..retention import own_share, select, select_workspaces

    now = time.time() if at is None else at
    if loc.url:
        from .postgres import offline

        shared = offline.archive_index(loc.url)
        victims = select(shared.runs, config, now, shared.live_sources)
        spaces = select_workspaces(shared.runs, config, victims)
        return (own_share(victims, loc.host, shared.seen, now),
                own_share(spaces, loc.host, shared.seen, now))
    conn = _connect(loc.db)
    try:
        index = archive_index(conn)
        victims = select(index, config, now, live_rerun_sources(conn))
        return victims, select_workspaces(index, config, victims)
    except sqlite3.Error as e:
        raise StoreError(f"reading the run store {loc.db} failed: {e}") from None
    finally:
        conn.close()


@contextlib.contextmanager
def no_engine(db: Path) -> Iterator[None]:
    """Hold the lock an engine holds on its store (its intake journal's) for the block; a
    running engine is refused. It prunes by itself, and would not hear of rows removed
    under it: its run lists would show them, a pending re-run lose its original."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks
        yield
        return
    try:
        fd = os.open(f"{db}.intake", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as e:
        raise StoreError(f"cannot open the run store's journal {db}.intake: {e}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"an engine is running on the run store {db}",
                             hint="a running engine prunes by itself (common.retention); "
                                  "stop it to prune now (--dry-run works while it runs)"
                             ) from None
        yield
    finally:
        os.close(fd)


def prune(loc: StoreLocation, victims: list[ArchivedRun],
          spaces: Sequence[ArchivedRun] = (), batch: int = 200) -> int:
    """Remove `victims` (from prune_candidates) in small transactions, then their files,
    then the workspaces of `spaces`; refused while an engine runs on a SQLite store. On a
    shared database the hosts keep running: none caches what another host may remove."""
    if loc.url:
        return _prune(loc, victims, spaces, batch)
    with no_engine(loc.db):
        return _prune(loc, victims, spaces, batch)


def _prune(loc: StoreLocation, victims: list[ArchivedRun], spaces: Sequence[ArchivedRun],
           batch: int) -> int:
    from ..retention import remove_run_files, remove_workspaces

    if loc.url:
        from .postgres import offline

        gone = 0
        for i in range(0, len(victims), batch):
            chunk = victims[i:i + batch]
            gone += offline.delete_runs(loc.url, [v.run_id for v in chunk])
            remove_run_files(loc.workspace_root, chunk)
        remove_workspaces(loc.workspace_root, spaces)
        return gone
    conn = _connect(loc.db)
    gone = 0
    try:
        for i in range(0, len(victims), batch):
            chunk = victims[i:i + batch]
            conn.execute("BEGIN IMMEDIATE")
            try:
                gone += delete_runs(conn, [v.run_id for v in chunk])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            remove_run_files(loc.workspace_root, chunk)
    except sqlite3.Error as e:
        raise StoreError(f"pruning the run store {loc.db} failed: {e}") from None
    finally:
        conn.close()
    remove_workspaces(loc.workspace_root, spaces)
    return gone
