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
    3: """
-- A claim in one round trip (claims.claim_next): the oldest pend host `me` may run (its host
-- tags a subset of `tags`, no live lease on its resource tags or reuse-space), picked with
-- SKIP LOCKED and marked claimed with attempt + 1, and its leases taken, one row per tag,
-- taking over only an expired one. Fewer leases than it needs (a tag taken since the pick):
-- that attempt is undone (the block's subtransaction) and the next oldest is picked, `tries`
-- times at most. Returns the claimed pend, and whether another pend `me` may run is there
-- (the claimer looks again only then: one that comes later sends its own wake-up), or no row.
CREATE FUNCTION floe_claim(me text, tags text[], lease double precision, tries integer)
RETURNS TABLE (claimed_run text, claimed_json text, claimed_attempt integer, more boolean)
LANGUAGE plpgsql AS $$
DECLARE
    picked record;
    wanted text[];
    got integer;
BEGIN
    FOR i IN 1 .. tries LOOP
        BEGIN
            UPDATE pends SET claimed_by = me, attempt = pends.attempt + 1,
                lease_until = now() + make_interval(secs => lease)
            WHERE pends.run_id = (
                SELECT p.run_id FROM pends p
                WHERE p.claimed_by IS NULL AND p.host_tags <@ tags
                  AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.expires > now()
                      AND (l.tag = ANY(p.resource_tags)
                           OR (p.reuse_space AND l.tag = 'space:' || p.flow_id)))
                ORDER BY p.seq LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING pends.run_id, pends.json, pends.attempt, pends.resource_tags
                || CASE WHEN pends.reuse_space THEN ARRAY['space:' || pends.flow_id]
                        ELSE '{}'::text[] END AS tags
            INTO picked;
            IF NOT FOUND THEN
                RETURN;
            END IF;
            -- sorted: claimers take tags in one order, never waiting on each other crosswise
            SELECT coalesce(array_agg(DISTINCT t ORDER BY t), '{}') INTO wanted
            FROM unnest(picked.tags) AS t;
            IF cardinality(wanted) > 0 THEN
                INSERT INTO leases (tag, host, run_id, attempt, expires)
                SELECT t, me, picked.run_id, picked.attempt,
                       now() + make_interval(secs => lease)
                FROM unnest(wanted) AS t
                ON CONFLICT (tag) DO UPDATE SET host = excluded.host,
                    run_id = excluded.run_id, attempt = excluded.attempt,
                    expires = excluded.expires
                WHERE leases.expires <= now();
                GET DIAGNOSTICS got = ROW_COUNT;
                IF got < cardinality(wanted) THEN
                    RAISE EXCEPTION 'a lease was taken since the pick' USING ERRCODE = 'FL001';
                END IF;
            END IF;
            claimed_run := picked.run_id;
            claimed_json := picked.json;
            claimed_attempt := picked.attempt;
            more := EXISTS (
                SELECT 1 FROM pends p
                WHERE p.claimed_by IS NULL AND p.host_tags <@ tags
                  AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.expires > now()
                      AND (l.tag = ANY(p.resource_tags)
                           OR (p.reuse_space AND l.tag = 'space:' || p.flow_id))));
            RETURN NEXT;
            RETURN;
        EXCEPTION WHEN SQLSTATE 'FL001' THEN
            NULL;  -- this pick undone: pick again
        END;
    END LOOP;
END
$$;
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
