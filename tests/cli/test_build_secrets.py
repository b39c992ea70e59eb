"""`floe build -e` embeds the app document, never the secrets file it names (issue 22): the
binary reads the file where it runs, and masks its values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

FLOE = str(Path(sys.executable).parent / "floe")
PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
TOKEN = "tok-embedded-never-9d2f71"


def test_build_e_never_embeds_the_secrets_file(tmp_path):
    env = {**os.environ, "FLOE_CACHE_DIR": str(tmp_path / "cache"),
           "SHIV_ROOT": str(tmp_path / "cache" / "shiv")}
    subprocess.run([FLOE, "create", "demo"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=300)
    project = tmp_path / "demo"
    (project / "secrets.env").write_text(f"DEPLOY_TOKEN={TOKEN}\n")
    app = json.loads((project / "app.json").read_text())
    app["common"]["secrets-file"] = "secrets.env"
    flow = app["flows"][0]
    flow["secrets"] = ["DEPLOY_TOKEN"]
    flow["tasks"][0]["opts"]["shell"] += '; echo "token=$DEPLOY_TOKEN"'
    (project / "app.json").write_text(json.dumps(app, indent=2))
    built = subprocess.run([FLOE, "build", "-e"], cwd=project, env=env, capture_output=True,
                           text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    binary = project / "bin" / "demo"
    with zipfile.ZipFile(binary) as z:
        for name in z.namelist():
            assert TOKEN.encode() not in z.read(name), name
    assert TOKEN.encode() not in binary.read_bytes()

    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    (run_dir / "secrets.env").write_text(f"DEPLOY_TOKEN={TOKEN}\n")
    os.chmod(run_dir / "secrets.env", 0o600)
    clean = {k: v for k, v in env.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    proc = subprocess.run([PYTHON, "-I", str(binary), f"-root={tmp_path / 'root'}",
                           "-start=build-project", "-once", "-events"], cwd=run_dir,
                          env=clean, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"update": "token=***"' in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr
