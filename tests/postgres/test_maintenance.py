"""`floe prune` and `floe store backup` on a PostgreSQL store two real engines share: each host
prunes the runs it executed (their workspaces are on its disk) and leaves a live host's runs to
it; a host gone for a day leaves its runs to anyone; the backup is pg_dump's, and restores
with pg_restore into a database that holds every archived run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest
from engine.server.servertest import EngineProcess, launch, start_run, wait_ended
from harness import wait_until
from pgserver import find_bin_dir

from floecli.engine.retention import ORPHANED_AFTER, own_share
from floecli.engine.store.base import ArchivedRun

pytestmark = pytest.mark.script_launch_mode("subprocess")

RUNS = 3  # per flow


def app(extra: str = "") -> str:
    # Flow `a` runs only on h1 and `b` only on h2 (host tags), so who executed what is known.
    flows = "".join(f"""\
  - id: {flow}
    ver: 1
    host-tags: [{tag}]
    triggers: [{{id: start, type: data}}]
    tasks:
      - {{id: t, listen: trigger.good, type: exec, opts: {{shell: "echo {flow} > out"}}}}
""" for flow, tag in (("a", "one"), ("b", "two")))
    return f"common:\n  store-type: postgres\n{extra}flows:\n{flows}"


def archived(url: str) -> dict[str, str]:
    """Every archived run of the database, and the host that executed it."""
    with psycopg.connect(url) as conn:
        return dict(conn.execute(
            "SELECT run_id, coalesce(claimed_by, '') FROM runs WHERE state = 'archive'"))


def workspace(engine: EngineProcess, flow: str, run: str) -> Path:
    return engine.root / "spaces" / flow / "ws" / run


Ran = dict[str, tuple[EngineProcess, list[str]]]


def run_on_two_hosts(tmp_path: Path, url: str, text: str) -> Ran:
    """Two engines (h1 tagged `one`, h2 `two`) ran RUNS runs of each flow, one by one (their
    start times are ordered): {flow: (the engine that ran it, its runs oldest first)}. The
    engines still run."""
    env = {"FLOE_STORE_URL": url}
    h1 = launch(tmp_path / "h1", text, "-host_name=h1", "-tags=one", env=env, name="h1")
    h2 = launch(tmp_path / "h2", text, "-host_name=h2", "-tags=two", env=env, name="h2")
    ran: Ran = {"a": (h1, []), "b": (h2, [])}
    try:
        with h1.client() as c:
            for flow, (_, runs) in ran.items():
                for _ in range(RUNS):
                    runs.append(start_run(c, flow))
                    wait_ended(c, flow, runs[-1])
    except BaseException:
        stop(ran)
        raise
    return ran


def stop(ran: Ran) -> None:
    for engine, _ in ran.values():
        engine.stop()


@pytest.fixture
def two_hosts_ran(tmp_path: Path, pg_url: str) -> Ran:
    ran = run_on_two_hosts(tmp_path, pg_url, app())
    stop(ran)
    return ran


def floe(script_runner, url: str, *args: str):
    return script_runner.run(["floe", *args], env={**os.environ, "FLOE_STORE_URL": url})


def test_each_host_prunes_its_own_share_of_a_shared_database(tmp_path, pg_url, script_runner,
                                                             two_hosts_ran):
    (h1, runs_a), (h2, runs_b) = two_hosts_ran["a"], two_hosts_ran["b"]
    assert archived(pg_url) == {**dict.fromkeys(runs_a, "h1"), **dict.fromkeys(runs_b, "h2")}
    conf = tmp_path / "prune.yml"
    conf.write_text(app("  retention: {keep: 1}\n"))

    # h1's prune: the older runs of `a` (h1 ran them) go with their workspaces here; the
    # older runs of `b` are h2's, a live host's, and stay.
    dry = floe(script_runner, pg_url, "prune", "--conf", str(conf), "--root", str(h1.root),
               "--host_name", "h1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove {RUNS - 1} archived runs (dry run)" in dry.stdout
    assert all(f" a {r} started" in dry.stdout for r in runs_a[:-1]), dry.stdout
    assert " b " not in dry.stdout
    done = floe(script_runner, pg_url, "prune", "--conf", str(conf), "--root", str(h1.root),
                "--host_name", "h1")
    assert done.returncode == 0, done.stderr
    assert f"removed {RUNS - 1} archived runs" in done.stdout
    assert set(archived(pg_url)) == {runs_a[-1], *runs_b}
    assert [workspace(h1, "a", r).is_dir() for r in runs_a] == [False] * (RUNS - 1) + [True]

    # h2 not seen for a day: its runs are anyone's to prune (nobody else ever will).
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE hosts SET last_seen = now() - make_interval(secs => %s) "
                     "WHERE name = 'h2'", (ORPHANED_AFTER + 60,))
    dry = floe(script_runner, pg_url, "prune", "--conf", str(conf), "--root", str(h1.root),
               "--host_name", "h1", "--dry-run")
    assert dry.returncode == 0 and f"would remove {RUNS - 1} archived runs" in dry.stdout

    # h2's own prune removes its share, with its workspaces.
    done = floe(script_runner, pg_url, "prune", "--conf", str(conf), "--root", str(h2.root),
                "--host_name", "h2")
    assert done.returncode == 0 and f"removed {RUNS - 1} archived runs" in done.stdout
    assert set(archived(pg_url)) == {runs_a[-1], runs_b[-1]}
    assert [workspace(h2, "b", r).is_dir() for r in runs_b] == [False] * (RUNS - 1) + [True]


def test_a_backup_of_a_shared_database_restores_with_pg_restore(tmp_path, pg_server, pg_url,
                                                                script_runner, two_hosts_ran):
    conf = tmp_path / "app.yml"
    conf.write_text(app())
    dump = tmp_path / "floe.dump"
    r = floe(script_runner, pg_url, "store", "backup", str(dump), "--conf", str(conf))
    assert r.returncode == 0, r.stderr
    assert f"{2 * RUNS} archived runs" in r.stdout
    pg_server.sql("CREATE DATABASE restored")
    try:
        target = pg_server.url("restored")
        subprocess.run([str(find_bin_dir() / "pg_restore"), "--no-owner", f"--dbname={target}",
                        str(dump)], check=True, capture_output=True, timeout=120)
        assert archived(target) == archived(pg_url)
    finally:
        pg_server.sql("DROP DATABASE IF EXISTS restored WITH (FORCE)")


def test_a_backup_of_an_unreachable_database_is_a_clear_error(tmp_path, script_runner):
    conf = tmp_path / "app.yml"
    conf.write_text(app())
    url = "postgresql://floe:s3cret@127.0.0.1:1/floe"
    r = floe(script_runner, url, "store", "backup", str(tmp_path / "x.dump"), "--conf",
             str(conf))
    assert r.returncode == 1
    assert r.stderr.startswith("Error backing up the run store: pg_dump of "), r.stderr
    assert "s3cret" not in r.stderr and "Traceback" not in r.stderr
    assert not list(tmp_path.glob("*.dump*"))  # no partial file left


def test_own_share_leaves_a_live_hosts_runs_to_it():
    at = 1_000_000.0
    runs = [ArchivedRun("h1-1", "f", 1, host="h1"), ArchivedRun("h2-1", "f", 1, host="h2"),
            ArchivedRun("h3-1", "f", 1, host="h3"), ArchivedRun("h1-2", "f", 1, host="")]
    seen = {"h1": at, "h2": at - 5, "h3": at - ORPHANED_AFTER - 1}
    assert [r.run_id for r in own_share(runs, "h1", seen, at)] == ["h1-1", "h3-1", "h1-2"]


def test_engines_sharing_a_database_each_prune_their_own_runs(tmp_path, pg_url):
    # Both engines keep one run per flow; each removes the runs it ran, with the workspaces
    # on its own disk (were h1 to remove h2's rows, h2 would never remove their workspaces).
    ran = run_on_two_hosts(tmp_path, pg_url, app("  retention: {keep: 1}\n"))
    try:
        newest = {runs[-1] for _, runs in ran.values()}
        wait_until(lambda: set(archived(pg_url)) == newest, 60, "each host's pruning pass")
        for flow, (engine, runs) in ran.items():
            wait_until(lambda e=engine, f=flow, rs=runs: not any(
                workspace(e, f, r).exists() for r in rs[:-1]), 30, f"{flow}'s old workspaces")
            assert workspace(engine, flow, runs[-1]).is_dir()
    finally:
        stop(ran)


async def test_prune_spares_the_original_of_a_re_run_pending_on_any_host(tmp_path, pg_url):
    from pgrecords import a_pend, ended, started, tagged_flow

    from floecli.engine.config.loader import parse_app
    from floecli.engine.store.maintenance import StoreLocation, prune_candidates
    from floecli.engine.store.postgres import PostgresStore

    store = PostgresStore(pg_url, host="h2")
    store.open()
    f = tagged_flow("f")
    for n in (1, 2, 3):
        store.add_pend(a_pend(n, f), n)
        await store.flush()
        p = await store.claim_next()
        assert p is not None
        record = started(p)
        await store.activate(record)
        store.finish(ended(record))
    waiting = a_pend(4, f)
    waiting.rerun = {"Of": "h1-1", "From": "t", "User": "ann"}
    store.add_pend(waiting, 4)
    await store.close()
    cfg = parse_app("common: {retention: {keep: 1}}\nflows: []\n")
    loc = StoreLocation(tmp_path / "unused.db", tmp_path, pg_url, "h2")
    victims, _ = prune_candidates(loc, cfg)
    assert [v.run_id for v in victims] == ["h1-2"]  # h1-1 stays for the re-run, h1-3 newest
