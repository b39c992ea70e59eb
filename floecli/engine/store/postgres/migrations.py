"""floe's schema in PostgreSQL, as versioned migrations applied at start.

Each migration runs once, in order, in one transaction with the others still missing, under a
transaction-level advisory lock: hosts starting together on an empty database do not race,
and the lock holds through PgBouncer's transaction mode (a session-level lock would not). The
`schema_version` table holds the version reached; a database migrated by a newer floe than
this one is refused, never written.
"""

from __future__ import annotations

from typing import Any

from ...errors import StoreError

# An arbitrary key for pg_advisory_xact_lock: "floe" in ASCII.
MIGRATION_LOCK = 0x666C6F65

# version → SQL. Never edit a released migration: add the next one.
MIGRATIONS: dict[int, str] = {
    1: """
-- the run counter each host numbers its runs from (run ids are <host>-<n>)
CREATE TABLE counters (host text PRIMARY KEY, counter bigint NOT NULL);

-- a pend is a row: pending while claimed_by is null. `attempt` grows with every claim, so a
-- write carrying an older attempt is fenced out. The tags are copied out of the flow so the
-- claim query reads no JSON.
CREATE TABLE pends (
    run_id text PRIMARY KEY,
    seq bigserial NOT NULL,
    flow_id text NOT NULL,
    json text NOT NULL,
    host_tags text[] NOT NULL DEFAULT '{}',
    resource_tags text[] NOT NULL DEFAULT '{}',
    reuse_space boolean NOT NULL DEFAULT false,
    claimed_by text,
    attempt integer NOT NULL DEFAULT 0,
    lease_until timestamptz
);
CREATE INDEX pends_unclaimed ON pends (seq) WHERE claimed_by IS NULL;
CREATE INDEX pends_claimed ON pends (lease_until) WHERE claimed_by IS NOT NULL;

-- started runs, active or archived. `activation` is the token of the write that made the row
-- active: the same write retried after a lost commit reply is recognised, not refused.
CREATE TABLE runs (
    run_id text PRIMARY KEY,
    seq bigserial NOT NULL,
    flow_id text NOT NULL,
    state text NOT NULL CHECK (state IN ('active', 'archive')),
    start_time double precision NOT NULL,
    json text NOT NULL,
    activation text NOT NULL DEFAULT '',
    claimed_by text,
    attempt integer NOT NULL DEFAULT 0,
    lease_until timestamptz
);
CREATE INDEX runs_time ON runs (start_time DESC, seq DESC);
CREATE INDEX runs_flow_time ON runs (flow_id, start_time DESC, seq DESC);
CREATE INDEX runs_flow_state_time ON runs (flow_id, state, start_time DESC, seq DESC);
CREATE INDEX runs_active ON runs (state) WHERE state = 'active';
CREATE INDEX runs_claimed ON runs (lease_until) WHERE claimed_by IS NOT NULL;

-- one row per log line: appending is one insert, never a rewrite
CREATE TABLE logs (
    seq bigserial PRIMARY KEY,
    run_id text NOT NULL,
    node_id text NOT NULL,
    line text NOT NULL
);
CREATE INDEX logs_run ON logs (run_id, seq);

-- small documents: git refs seen, sessions, kept marks, ...
CREATE TABLE kv (key text PRIMARY KEY, json text NOT NULL);

-- resource tags and reuse-spaces held: one row per tag, so two holders cannot exist
CREATE TABLE leases (
    tag text PRIMARY KEY,
    host text NOT NULL,
    run_id text NOT NULL,
    attempt integer NOT NULL,
    expires timestamptz NOT NULL
);
CREATE INDEX leases_host ON leases (host);
CREATE INDEX leases_run ON leases (run_id);

-- every host heartbeats its row
CREATE TABLE hosts (
    name text PRIMARY KEY,
    tags text[] NOT NULL DEFAULT '{}',
    address text NOT NULL DEFAULT '',
    started timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);

-- commands for the host executing a run (stop, push/data): picked up and deleted by it
CREATE TABLE commands (
    id bigserial PRIMARY KEY,
    host text NOT NULL,
    run_id text NOT NULL,
    kind text NOT NULL,
    body text NOT NULL DEFAULT 'null',
    created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX commands_host ON commands (host, id);

-- the last write each store writer committed: a commit whose reply was lost is not redone
CREATE TABLE writers (
    id text PRIMARY KEY,
    seq bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
""",
    2: """
-- a host's presence: the key of the session-level advisory lock its listening connection
-- holds (null when it cannot hold one: behind a transaction-mode pooler), and how long its
-- row may go without a heartbeat before, its sessions gone, it is presumed dead (quiet, s)
ALTER TABLE hosts ADD COLUMN presence integer, ADD COLUMN quiet double precision;
""",
}

LATEST = max(MIGRATIONS)

VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    version integer NOT NULL)"""


def migrate(conn: Any, where: str = "the run store") -> int:
    """Bring the database of `conn` (a psycopg connection, not in a transaction) to LATEST;
    the version it was at. StoreError when it is newer than this floe knows."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(VERSION_TABLE)
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        found = int(row[0]) if row else 0
        if found > LATEST:
            raise StoreError(
                f"{where} has schema version {found}, newer than this floe knows ({LATEST})",
                hint="run the floe that migrated it, or a newer one; floe never downgrades")
        for version in range(found + 1, LATEST + 1):
            conn.execute(MIGRATIONS[version])
        if found == 0:
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (LATEST,))
        elif found < LATEST:
            conn.execute("UPDATE schema_version SET version = %s", (LATEST,))
    return found


def migrate_url(url: str) -> int:
    """Migrate the database at `url` (tests, tools)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        return migrate(conn)
