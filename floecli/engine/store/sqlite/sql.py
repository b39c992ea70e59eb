"""The SQLite run store's SQL: the schema, every statement, opening the database, and the
queries that read rows back as records. Plain functions of a connection: the writer thread
calls them inside its batch, `floe prune` inside its own transaction."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import StoreError
from ...pend import Pend
from ...runs import RunRecord
from ..base import KEPT_PREFIX, ArchivedRun, StoreState, highest_run_numbers
from ..codec import group_logs, run_from_text, summary_from_row

# One logger for the whole SQLite store, named as it was before the store became a package,
# so a filter on the engine's log lines keeps matching.
log = logging.getLogger(__package__)

SCHEMA_VERSION = 1

# logs.seq is a plain INTEGER PRIMARY KEY: a new row takes max + 1, so it grows with every
# insert without AUTOINCREMENT's extra table (retention deletes the lines of old runs only,
# so a number reused after the top rows went still sorts after every line kept).
SCHEMA = f"""
BEGIN;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS pends (run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                                  json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, flow_id TEXT NOT NULL,
                                 state TEXT NOT NULL CHECK (state IN ('active', 'archive')),
                                 start_time REAL NOT NULL, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_flow_time ON runs (flow_id, start_time);
CREATE INDEX IF NOT EXISTS runs_time ON runs (start_time);
CREATE INDEX IF NOT EXISTS runs_state ON runs (state);
CREATE INDEX IF NOT EXISTS runs_flow_state_time ON runs (flow_id, state, start_time);
CREATE TABLE IF NOT EXISTS logs (seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL,
                                 node_id TEXT NOT NULL, line TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_run ON logs (run_id);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, json TEXT NOT NULL);
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""

# ---- writes: a statement and its parameters, queued for the writer thread -----------------

Statement = tuple[str, Sequence[Any]]

ADD_PEND = """INSERT INTO pends (run_id, seq, json)
VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM pends), ?)
ON CONFLICT (run_id) DO UPDATE SET json = excluded.json"""
SET_COUNTER = """INSERT INTO meta (key, value) VALUES ('counter', ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value"""
RAISE_COUNTER = """INSERT INTO meta (key, value) VALUES ('counter', ?)
ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)"""
REMOVE_PEND = "DELETE FROM pends WHERE run_id = ?"
# A run id is activated once: activating a known run is an error that rolls the whole
# transition back (hub/state.py refuses known ids first; this is the store's own guard).
ACTIVATE_RUN = """INSERT INTO runs (run_id, flow_id, state, start_time, json)
VALUES (?, ?, 'active', ?, ?)"""
# An archived run stays archived: a save that arrives after the end must not revive it.
SAVE_RUN = """UPDATE runs SET start_time = ?, json = ? WHERE run_id = ? AND state = 'active'"""
ARCHIVE_RUN = """INSERT INTO runs (run_id, flow_id, state, start_time, json)
VALUES (?, ?, 'archive', ?, ?)
ON CONFLICT (run_id) DO UPDATE SET state = 'archive', flow_id = excluded.flow_id,
    start_time = excluded.start_time, json = excluded.json"""
APPEND_LOG = "INSERT INTO logs (run_id, node_id, line) VALUES (?, ?, ?)"
PUT = """INSERT INTO kv (key, json) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET json = excluded.json"""
DELETE = "DELETE FROM kv WHERE key = ?"


def execute(conn: sqlite3.Connection, statement: Statement) -> None:
    sql, params = statement
    try:
        conn.execute(sql, params)
    except UnicodeEncodeError:
        # A lone surrogate in a log line: keep the line, with the bad character replaced.
        conn.execute(sql, [_utf8(p) for p in params])


def describe(statement: Statement) -> str:
    """A statement as a log line names it: its first words and its first parameter."""
    sql, params = statement
    words = " ".join(sql.split()[:3]).lower()
    return f"{words} {params[0]!r}" if params else words


def _utf8(value: Any) -> Any:
    return value.encode("utf-8", "replace").decode("utf-8") if isinstance(value, str) else value


# ---- reads: rows back as records ------------------------------------------------------------

RUN_LOGS = "SELECT node_id, line FROM logs WHERE run_id = ? ORDER BY seq"

# A page of archived summaries, read by SQLite's JSON functions: the flow and node states in
# each record are never parsed in Python. The page's rows are picked from the index alone,
# so a deep offset skips index entries, not records.
ARCHIVE_PAGE = """SELECT json_extract(json, '$.Ref', '$.ExecHost', '$.StartTime', '$.EndTime',
                          '$.Good', '$.Reason', '$.State', '$.Why', '$.StoppedBy',
                          '$.Inputs', '$.Rerun')
FROM runs WHERE rowid IN (
    SELECT rowid FROM runs WHERE flow_id = ? AND state = 'archive'
    ORDER BY start_time DESC, rowid DESC LIMIT ? OFFSET ?)
ORDER BY start_time DESC, rowid DESC"""
ARCHIVE_COUNT = "SELECT count(*) FROM runs WHERE flow_id = ? AND state = 'archive'"

ARCHIVE_INDEX = f"""SELECT r.run_id, r.flow_id, r.start_time, k.key IS NOT NULL,
    CASE WHEN coalesce(json_extract(r.json, '$.Rerun.From'), '') <> ''
         THEN coalesce(json_extract(r.json, '$.Rerun.Of'), '') ELSE '' END
FROM runs r LEFT JOIN kv k ON k.key = '{KEPT_PREFIX}' || r.run_id
WHERE r.state = 'archive' ORDER BY r.flow_id, r.start_time DESC, r.rowid DESC"""

# The runs that pending or active re-runs from a node re-run: retention keeps them.
LIVE_RERUN_SOURCES = """SELECT json_extract(json, '$.Rerun.Of') FROM pends
WHERE coalesce(json_extract(json, '$.Rerun.From'), '') <> ''
UNION SELECT json_extract(json, '$.Rerun.Of') FROM runs
WHERE state = 'active' AND coalesce(json_extract(json, '$.Rerun.From'), '') <> ''"""


def load_run(conn: sqlite3.Connection, run_id: str) -> RunRecord | None:
    row = conn.execute("SELECT json FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return run_from_text(row[0], conn.execute(RUN_LOGS, (run_id,))) if row else None


def list_runs(conn: sqlite3.Connection, flow_id: str | None, limit: int) -> list[RunRecord]:
    where, params = ("WHERE flow_id = ?", [flow_id]) if flow_id is not None else ("", [])
    sql = f"SELECT json FROM runs {where} ORDER BY start_time DESC, rowid DESC LIMIT ?"
    params.append(limit if limit > 0 else -1)  # SQLite: a negative LIMIT means none
    return [run_from_text(text) for (text,) in conn.execute(sql, params)]


def archive_page(conn: sqlite3.Connection, flow_id: str, offset: int, limit: int
                 ) -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(ARCHIVE_COUNT, (flow_id,)).fetchone()[0]
    rows = conn.execute(ARCHIVE_PAGE, (flow_id, limit if limit > 0 else -1, offset))
    return [summary_from_row(json.loads(text)) for (text,) in rows], total


def node_logs(conn: sqlite3.Connection, run_id: str, node_id: str | None
              ) -> dict[str, list[str]]:
    if node_id is None:
        sql, params = RUN_LOGS, (run_id,)
    else:
        sql = "SELECT node_id, line FROM logs WHERE run_id = ? AND node_id = ? ORDER BY seq"
        params = (run_id, node_id)
    return group_logs(conn.execute(sql, params))


def get(conn: sqlite3.Connection, key: str) -> Any | None:
    row = conn.execute("SELECT json FROM kv WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


def knows_run(conn: sqlite3.Connection, run_id: str) -> bool:
    """Whether the run id is pending or in runs (active or archived)."""
    return any(conn.execute(f"SELECT 1 FROM {table} WHERE run_id = ?", (run_id,)).fetchone()
               for table in ("pends", "runs"))


def archive_index(conn: sqlite3.Connection) -> list[ArchivedRun]:
    """Every archived run, per flow newest first (also read by `floe prune` from outside)."""
    return [ArchivedRun(run_id, flow_id, float(start), bool(kept), rerun_of=str(of or ""))
            for run_id, flow_id, start, kept, of in conn.execute(ARCHIVE_INDEX)]


def live_rerun_sources(conn: sqlite3.Connection) -> set[str]:
    return {str(of) for (of,) in conn.execute(LIVE_RERUN_SOURCES) if of}


def delete_runs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> int:
    """Remove archived runs with their log lines and kept marks, in the caller's
    transaction (the worker's batch, or `floe prune`'s own)."""
    gone = 0
    for i in range(0, len(run_ids), 500):  # SQLite's bound-parameter limit
        chunk = list(run_ids[i:i + 500])
        marks = ",".join("?" * len(chunk))
        archived = [r for (r,) in conn.execute(
            f"SELECT run_id FROM runs WHERE state = 'archive' AND run_id IN ({marks})", chunk)]
        if not archived:
            continue
        marks = ",".join("?" * len(archived))
        conn.execute(f"DELETE FROM logs WHERE run_id IN ({marks})", archived)
        conn.execute(f"DELETE FROM runs WHERE run_id IN ({marks})", archived)
        conn.execute(f"DELETE FROM kv WHERE key IN ({marks})",
                     [KEPT_PREFIX + r for r in archived])
        gone += len(archived)
    return gone


# ---- opening ------------------------------------------------------------------------------

def connect(path: Path) -> sqlite3.Connection:
    """The database at `path`, made (private to the user) if missing, in WAL mode, with the
    schema in place."""
    if path.is_dir():
        raise open_error(path, "it is a directory")
    try:
        make_dirs(path.parent)
        if not path.exists():
            # Sessions live here too: only the user may read it (SQLite's -wal and -shm
            # files copy the database file's mode).
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(path, isolation_level=None)
    except (OSError, sqlite3.Error) as e:
        raise open_error(path, e) from None
    try:
        # Another process (a second engine, a CLI) may hold a lock for a moment.
        conn.execute("PRAGMA busy_timeout = 5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise open_error(path, f"it was written by a newer floe (schema {version})")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            log.warning("run store %s: journal mode is %s, not wal", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(SCHEMA)
    except sqlite3.Error as e:
        conn.close()
        raise open_error(path, e) from None
    except StoreError:
        conn.close()
        raise
    return conn


def load_state(conn: sqlite3.Connection) -> StoreState:
    """What the engine resumes from: the run counter, the highest run numbers, the pends in
    the order they came, the active runs with their logs."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()
    ids = conn.execute("SELECT run_id FROM runs UNION ALL SELECT run_id FROM pends")
    state = StoreState(counter=int(row[0]) if row else 0,
                       highest=highest_run_numbers(run_id for (run_id,) in ids))
    for run_id, text in conn.execute("SELECT run_id, json FROM pends ORDER BY seq"):
        try:
            state.pends.append(Pend.from_json(json.loads(text)))
        except (ValueError, TypeError, AttributeError) as e:
            # Like the reference: a record that cannot be read is logged, not fatal.
            log.warning("run store: pend %s cannot be read, skipped: %s", run_id, e)
    active = conn.execute(
        "SELECT run_id, json FROM runs WHERE state = 'active' ORDER BY start_time, rowid"
    ).fetchall()
    for run_id, text in active:
        try:
            state.active.append(run_from_text(text, conn.execute(RUN_LOGS, (run_id,))))
        except (ValueError, TypeError, AttributeError) as e:
            log.warning("run store: active run %s cannot be read, skipped: %s", run_id, e)
    return state


def make_dirs(path: Path) -> None:
    """Create `path` and its missing parents, each private to the user (0700)."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)


def open_error(path: Path, why: object) -> StoreError:
    return StoreError(f"cannot open the run store {path}: {why}",
                      hint="store-root must be a directory this user can write")


def rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.rollback()
    except sqlite3.Error:
        log.exception("run store: rollback failed")
