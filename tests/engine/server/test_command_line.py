"""The engine's command line: Go-style flags, exit status 2 with the reason, clean signals."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from flows import app, one_task
from servertest import BASE, launch, run_view, start_run, wait_until


def slow_app(shell: str) -> str:
    return app(one_task("slow", shell=shell, task_id="wait", host_tags=["linux"]),
               store_type="local")


APP = slow_app("echo started; sleep 60")
QUICK_APP = slow_app("echo started; true")


def engine(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "floecli.engine", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_seed_flags():
    r = engine("--help")
    assert r.returncode == 0
    for flag in ("-conf", "-tags", "-host_name", "-admin", "-pub_bind", "-pub_cert",
                 "-pub_key", "-prv_bind", "-prv_cert", "-prv_key", "-dev", "-root",
                 "-tester_port"):
        assert flag in r.stdout


def test_bad_flag_and_bad_config_exit_2(tmp_path):
    r = engine("-no_such_flag=1")
    assert r.returncode == 2 and "Error parsing flags" in r.stderr
    r = engine(f"-conf={tmp_path / 'missing.yml'}", "-pub_bind=127.0.0.1:0")
    assert r.returncode == 2 and "cannot read" in r.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("flows:\n  - id: x\n    tasks: [{id: a, type: nosuch}]\n")
    r = engine(f"-conf={bad}", "-pub_bind=127.0.0.1:0")
    assert r.returncode == 2 and "Error loading config" in r.stderr and "bad.yml:3" in r.stderr
    r = engine("-pub_bind=127.0.0.1:0", cwd=tmp_path)  # no -conf and nothing in cwd
    assert r.returncode == 2 and "no config file" in r.stderr


def test_port_in_use_and_bad_certificate_exit_2(tmp_path):
    conf = tmp_path / "app.yml"
    conf.write_text(APP)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = engine(f"-conf={conf}", f"-pub_bind=127.0.0.1:{port}", f"-root={tmp_path}/r")
    assert r.returncode == 2
    assert f"Error starting engine: 127.0.0.1:{port}: address already in use" in r.stderr
    (tmp_path / "junk.pem").write_text("not a certificate")
    r = engine(f"-conf={conf}", "-pub_bind=127.0.0.1:0", f"-pub_cert={tmp_path}/junk.pem",
               f"-pub_key={tmp_path}/junk.pem", f"-root={tmp_path}/r")
    assert r.returncode == 2 and "Error starting engine" in r.stderr


def test_sigterm_records_runs_in_flight(tmp_path):
    first = launch(tmp_path, APP, "-tags=linux")
    with first.client() as c:
        run = start_run(c, "slow")
        wait_until(lambda: run_view(c, "slow", run)["Graph"][0][0]["Status"] == "running")
    assert first.stop(signal.SIGTERM) == 0
    again = launch(tmp_path, APP, "-tags=linux")
    try:
        with again.client() as c:
            summary = run_view(c, "slow", run)["Summary"]
            assert (summary["Status"], summary["Reason"]) == ("bad", "interrupted")
            run2 = start_run(c, "slow")
            assert run2 == "h1-2"  # the counter was kept
    finally:
        assert again.stop(signal.SIGINT) == 0


def test_seed_quick_start_verbatim(tmp_path):
    (tmp_path / "app.json").write_text(
        '{"common": {"store-type": "memory"}, "flows": [{"id": "f", "ver": 1, "host-tags": '
        '["go"], "triggers": [{"id": "start", "type": "data"}], "tasks": []}]}')
    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [shutil.which("floe") or "floe", "-tags=linux,go,couch", "-admin=123456",
             "-host_name=h1", "-pub_bind=127.0.0.1:0", f"-root={tmp_path}/root"],
            cwd=tmp_path, stderr=stderr, stdout=subprocess.DEVNULL)
    try:
        line = wait_until(lambda: next((x for x in err.read_text().splitlines()
                                        if x.startswith("floe listening on http://")), ""))
        url = line.split()[-1]
        r = httpx.get(f"{url}{BASE}/flows", headers={"X-Floe-Auth": "123456"})
        assert r.status_code == 200 and r.json()["Payload"]["Flows"][0]["ID"] == "f"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0


def test_headless_once_does_not_listen(tmp_path):
    conf = tmp_path / "app.yml"
    conf.write_text(QUICK_APP)
    r = engine(f"-conf={conf}", "-tags=linux", "-start=slow", "-once", f"-root={tmp_path}/r")
    assert r.returncode == 0, r.stderr
    assert "listening" not in r.stderr


def test_the_engine_runs_on_uvloop_unless_asked_for_asyncios_loop(tmp_path):
    conf = tmp_path / "app.yml"
    conf.write_text(QUICK_APP)
    for choice, used in (("auto", "uvloop"), ("asyncio", "asyncio")):
        r = engine(f"-conf={conf}", "-tags=linux", "-start=slow", "-once", "-v",
                   f"-event_loop={choice}", f"-root={tmp_path}/{choice}")
        assert r.returncode == 0, r.stderr
        assert f"event loop: {used}" in r.stderr


def test_asking_for_uvloop_where_it_is_missing_is_a_clear_error(tmp_path):
    # A Python that cannot import uvloop (as on Windows): -event_loop=uvloop says so, auto
    # quietly takes asyncio's loop.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "uvloop.py").write_text("raise ImportError('no uvloop here')\n")
    conf = tmp_path / "app.yml"
    conf.write_text(QUICK_APP)
    env = {**os.environ, "PYTHONPATH": str(hide)}
    args = [sys.executable, "-m", "floecli.engine", f"-conf={conf}", "-tags=linux",
            "-start=slow", "-once", "-v", f"-root={tmp_path}/r"]
    r = subprocess.run([*args, "-event_loop=uvloop"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith("Error starting engine: -event_loop=uvloop: uvloop is not "
                               "installed\nhint: pip install uvloop"), r.stderr
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "event loop: asyncio" in r.stderr
