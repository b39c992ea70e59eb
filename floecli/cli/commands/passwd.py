"""`floe passwd`: make a salted password hash and the `common.users` entry that uses it."""

from __future__ import annotations

import json
import sys

import typer

from ..application import APP, fail, usage_error


def _read_password() -> str:
    if not sys.stdin.isatty():
        # piped: one line, so scripts can do `echo "$PW" | floe passwd --user ann`; read as
        # bytes, because the locale's decoding would let bytes that are not UTF-8 through
        line = sys.stdin.buffer.readline().rstrip(b"\r\n")
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            fail("making password hash", usage_error(
                "passwd", "the password is not UTF-8 text",
                hint="give the password as UTF-8 text, on one line of stdin"))
    first = typer.prompt("Password", hide_input=True)
    second = typer.prompt("Password again", hide_input=True)
    if first != second:
        fail("making password hash", usage_error("passwd", "the two passwords differ",
                                                 hint="type the same password twice"))
    return first


def register(app: typer.Typer) -> None:
    @app.command()
    def passwd(
        user: str = typer.Option("admin", "--user", "-u", help="the user's name"),
        role: str = typer.Option("admin", "--role", "-r",
                                 help="admin (may do everything) or viewer (may only read)"),
    ) -> None:
        """Print a salted hash of a password (asked twice, or one line from stdin) and a
        ready-to-paste common.users entry."""
        from floecli.engine.server.passwords import hash_password

        if role not in ("admin", "viewer"):
            fail("making password hash",
                 usage_error("passwd", f"role must be admin or viewer, not {role!r}"))
        password = _read_password()
        if not password:
            fail("making password hash", usage_error(
                "passwd", "the password is empty",
                hint="give it on one line of stdin, or run floe passwd on a terminal to type "
                     "it"))
        digest = hash_password(password)
        APP.echo(digest)
        entry = {"name": user, "role": role, "password-hash": digest}
        # JSON is also YAML: the entry pastes into app.json or config.yml alike
        APP.echo(f"common.users entry: {json.dumps(entry)}")
