"""Secrets (issue 22): from a file outside the app document, given to the flows that name
them, and masked as `***` in node logs, the API, the websocket and the tester's reply, each
line of a multi-line secret too. Through a real engine process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import websockets
from servertest import ADMIN, start_run, wait_ended

TOKEN = "tok-3f9a-deploy-7c21"
CERT_LINES = ["-----BEGIN KEY-----", "MIIBsecretline1AAAA", "QQQQsecretline2ZZZZ",
              "-----END KEY-----"]

SECRETS_YAML = "DEPLOY_TOKEN: " + TOKEN + "\nCERT: |\n" + "".join(
    f"  {line}\n" for line in CERT_LINES) + "UNUSED: not-given-to-flows\n"

APP = """\
common:
  store-type: local
  secrets-file: secrets.yml
flows:
  - id: deploy
    ver: 1
    secrets: [DEPLOY_TOKEN, CERT]
    triggers: [{id: start, type: data}]
    tasks:
      - id: show
        listen: trigger.good
        type: exec
        opts:
          shell: 'echo "token=$DEPLOY_TOKEN"; printf "%s\\n" "$CERT"; echo "unused=[$UNUSED]"'
      - id: fail
        listen: task.show.good
        type: exec
        opts: {shell: 'echo "error: bad token $DEPLOY_TOKEN" >&2; exit 1'}
"""

INLINE = {
    "id": "leak", "ver": 1,
    "triggers": [{"id": "start", "type": "data"}],
    "tasks": [{"id": "cat", "listen": "trigger.good", "type": "exec",
               "opts": {"cmd": "cat", "args": ["SECRETS"]}}],
}


def _assert_masked(text: str) -> None:
    assert TOKEN not in text
    for line in CERT_LINES[1:3]:
        assert line not in text


def test_a_secret_is_masked_in_logs_api_websocket_and_tester(start_engine, tmp_path):
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(SECRETS_YAML)
    os.chmod(secrets, 0o600)
    engine = start_engine(APP, "-tester_port=0")
    frames: list[str] = []

    async def watch_and_run() -> str:
        url = engine.url(scheme="ws") + "/ws?flow=deploy"
        async with websockets.connect(url, additional_headers={"X-Floe-Auth": ADMIN},
                                      open_timeout=10) as ws:
            with engine.client() as c:
                run = start_run(c, "deploy")
            async with asyncio.timeout(60):
                while True:
                    frame = await ws.recv()
                    frames.append(str(frame))
                    if json.loads(frame)["Tag"] == "sys.end.all":
                        return run

    run = asyncio.run(watch_and_run())
    ws_text = "\n".join(frames)
    _assert_masked(ws_text)
    assert "token=***" in ws_text and "secretline" not in ws_text

    with engine.client() as c:
        view = wait_ended(c, "deploy", run)
        text = json.dumps(view)
        _assert_masked(text)
        assert "token=***" in text
        assert "error: bad token ***" in text  # an error message too
        assert "unused=[]" in text  # only the secrets a flow names reach it
        logs = c.get(f"/flows/deploy/runs/{run}/logs")
        assert logs.status_code == 200
        _assert_masked(logs.text)
        show = logs.json()["Payload"]["show"]
        lines = show["Lines"] if isinstance(show, dict) else show
        # each line of the multi-line secret on its own
        assert [ln for ln in lines if ln.startswith(("token=", "***"))] == [
            "token=***", "***", "***", "***", "***"], lines
        flow = c.get("/flows/deploy")
        assert flow.status_code == 200
        _assert_masked(flow.text)  # the API never shows a flow's secret values

    with httpx.Client(base_url=engine.url("tester"), timeout=60) as c:
        inline = json.loads(json.dumps(INLINE).replace("SECRETS", str(secrets)))
        r = c.post("/flow/start", json={"flow": inline})
        assert r.status_code == 200, r.text
        _assert_masked(r.text)
        logs = r.json()["nodes"][0]["logs"]
        assert "DEPLOY_TOKEN: ***" in logs and "  ***" in logs, logs
    _assert_masked(engine.stderr)


def test_key_value_secrets_file_from_the_environment(start_engine, tmp_path):
    secrets = tmp_path / "outside" / "prod.env"
    secrets.parent.mkdir()
    secrets.write_text(f"# deploy\nDEPLOY_TOKEN={TOKEN}\nexport OTHER='quoted value'\n")
    app = APP.replace("  secrets-file: secrets.yml\n", "").replace(
        "[DEPLOY_TOKEN, CERT]", "[DEPLOY_TOKEN, OTHER]")
    engine = start_engine(app, env={"FLOE_SECRETS_FILE": str(secrets)})
    with engine.client() as c:
        run = start_run(c, "deploy")
        view = wait_ended(c, "deploy", run)
    text = json.dumps(view)
    _assert_masked(text)
    assert "token=***" in text


def test_a_broken_secrets_file_stops_the_engine_without_printing_it(tmp_path):
    secrets = tmp_path / "secrets.yml"
    # the PEM's second line lost its indentation: YAML fails there
    secrets.write_text(SECRETS_YAML.replace(f"  {CERT_LINES[1]}\n", f" {CERT_LINES[1]}\n"))
    os.chmod(secrets, 0o600)
    conf = tmp_path / "app.yml"
    conf.write_text(APP)
    r = subprocess.run([sys.executable, "-m", "floecli.engine", f"-conf={conf}",
                        "-start=deploy", "-once", f"-root={tmp_path / 'r'}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"secrets file {secrets}: neither KEY=value lines nor YAML:" in r.stderr, r.stderr
    assert "(line 4, column 2)" in r.stderr
    _assert_masked(r.stderr + r.stdout)


def test_once_events_and_the_report_mask_secrets(tmp_path):
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(SECRETS_YAML)
    os.chmod(secrets, 0o600)
    conf = tmp_path / "app.yml"
    conf.write_text(APP)
    r = subprocess.run([sys.executable, "-m", "floecli.engine", f"-conf={conf}",
                        "-start=deploy", "-once", "-events", f"-root={tmp_path / 'r'}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr  # the `fail` task fails the run
    assert '"update": "token=***"' in r.stdout  # every event on stdout
    assert "failed node: fail (exit status 1)" in r.stderr
    assert "  error: bad token ***" in r.stderr  # the report's last lines of that node
    _assert_masked(r.stdout + r.stderr)
