"""The PostgreSQL store worked on from outside the engine (`floe prune`, `floe store backup`),
with a plain synchronous connection: the same statements the engine runs, and pg_dump."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ...errors import StoreError
from ..base import KEPT_PREFIX, ArchivedRun
from . import claims
from .store import redact_url

CONNECT_TIMEOUT = 5


def _connect(url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=True, prepare_threshold=None,
                               connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as e:
        raise StoreError(f"cannot open the run store {redact_url(url)}: {e}".rstrip(),
                         hint="check common.store-url (or FLOE_STORE_URL)") from None


@dataclass
class Index:
    runs: list[ArchivedRun]  # every archived run, per flow newest first
    seen: dict[str, float]  # when each host sharing the database last showed life
    live_sources: set[str]  # the runs that pending or active re-runs from a node re-run


def archive_index(url: str) -> Index:
    try:
        with _connect(url) as conn:
            runs = [ArchivedRun(r, f, float(t), bool(k), h, o)
                    for r, f, t, k, h, o in conn.execute(claims.ARCHIVE_INDEX, (KEPT_PREFIX,))]
            seen = {row[0]: row[3].timestamp() for row in conn.execute(claims.HOSTS)}
            live = {str(of) for (of,) in conn.execute(claims.LIVE_RERUN_SOURCES) if of}
    except psycopg.Error as e:
        raise StoreError(f"reading the run store {redact_url(url)} failed: {e}") from None
    return Index(runs, seen, live)


def delete_runs(url: str, run_ids: Sequence[str]) -> int:
    """Remove archived runs with their log lines and kept marks, in one transaction."""
    try:
        with _connect(url) as conn, conn.transaction():
            row = conn.execute(claims.DELETE_RUNS, (list(run_ids), KEPT_PREFIX)).fetchone()
    except psycopg.Error as e:
        raise StoreError(f"pruning the run store {redact_url(url)} failed: {e}") from None
    return int(row[0]) if row else 0


def pg_dump() -> str:
    """PostgreSQL's own pg_dump: on PATH, else Debian's versioned directory (newest)."""
    found = shutil.which("pg_dump") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)), "")
    if not found:
        raise StoreError("pg_dump is not installed",
                         hint="install PostgreSQL's client programs (Debian: postgresql-client)")
    return found


def dump(url: str, dest: Path) -> None:
    """A consistent copy of the database at `dest` in pg_dump's custom format (one snapshot
    while the hosts keep writing; restore with pg_restore). Written beside `dest` and moved
    into place, so a failed dump leaves no partial file."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    # The password goes by the environment: a command line is readable by every local user.
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as e:
        raise StoreError(f"the store URL {redact_url(url)} is not valid: {e}") from None
    password = params.pop("password", None)
    env = {**os.environ, **({"PGPASSWORD": str(password)} if password else {})}
    try:
        done = subprocess.run([pg_dump(), "--format=custom", "--no-owner", f"--file={tmp}",
                               f"--dbname={make_conninfo(**params)}"], env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=3600, check=False)
        if done.returncode != 0:
            detail = done.stderr.strip()
            raise StoreError(f"pg_dump of {redact_url(url)} failed: {detail}")
        os.replace(tmp, dest)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise StoreError(f"backing up {redact_url(url)} to {dest} failed: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)


def count_archived(url: str) -> int:
    try:
        with _connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM runs WHERE state = 'archive'").fetchone()
    except psycopg.Error as e:
        raise StoreError(f"reading the run store {redact_url(url)} failed: {e}") from None
    return int(row[0]) if row else 0
