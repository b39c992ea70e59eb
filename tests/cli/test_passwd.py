"""`floe passwd` and the password hashes it makes."""

from __future__ import annotations

import json
import shutil
import subprocess

from floecli.engine.server.passwords import verify_password


def floe(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("floe") or "floe", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_passwd_prints_a_hash_and_a_users_entry():
    r = floe("passwd", "--user", "ann", "--role", "viewer", stdin="s3cret\n")
    assert r.returncode == 0, r.stderr
    digest, entry = r.stdout.splitlines()
    assert digest.startswith("scrypt$")
    assert verify_password("s3cret", digest)
    assert not verify_password("s3cret ", digest)
    prefix = "common.users entry: "
    assert entry.startswith(prefix)
    assert json.loads(entry[len(prefix):]) == {"name": "ann", "role": "viewer",
                                               "password-hash": digest}
    # salted: the same password never gives the same hash
    assert floe("passwd", stdin="s3cret\n").stdout.splitlines()[0] != digest


def test_passwd_refuses_bad_input():
    r = floe("passwd", "--role", "boss", stdin="x\n")
    assert r.returncode == 2 and "role must be admin or viewer" in r.stderr
    r = floe("passwd", stdin="\n")
    assert r.returncode == 2 and "empty" in r.stderr
