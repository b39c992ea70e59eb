"""The password hashes `floe passwd` makes and the engine checks."""

from __future__ import annotations

from floecli.engine.server.passwords import hash_password, verify_password


def test_hash_formats():
    pbkdf2 = hash_password("pw", method="pbkdf2")
    assert pbkdf2.startswith("pbkdf2-sha256$") and verify_password("pw", pbkdf2)
    for bad in ("", "plain", "scrypt$1$2", "scrypt$x$8$1$AA$AA", "pbkdf2-sha256$9$!!$AA"):
        assert not verify_password("pw", bad)
