"""A throwaway PostgreSQL server for tests: Debian's binaries, a cluster made with initdb in a
temporary directory, listening on 127.0.0.1 on a free port, torn down afterwards.

PostgreSQL refuses to run as root, and CI runs as root: the cluster then belongs to the
`postgres` system user (present once Debian's package is installed; `nobody` otherwise) and
every server command runs through `runuser`. Nothing waits by sleeping: `pg_ctl -w` returns
once the server accepts connections (bounded by its own timeout), and tests that restart or
break connections wait on a connect, with a deadline.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections
SUPERUSER = "floe"


class PgServerError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """The newest of Debian's /usr/lib/postgresql/<version>/bin with initdb, or initdb on
    PATH (another distribution)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PgServerError("PostgreSQL is not installed: no initdb in /usr/lib/postgresql/*/bin "
                        "nor on PATH (.ci/run installs Debian's postgresql)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """The unprivileged user that owns the cluster when we are root; None when not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PgServerError("running as root with neither a postgres nor a nobody user")


class PgServer:
    """One PostgreSQL cluster; `url(db)` names a database in it."""

    def __init__(self) -> None:
        self.bin = find_bin_dir()
        self.user = _server_user()
        self.dir = Path(tempfile.mkdtemp(prefix="floe-pg-"))
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "sock"
        self.logfile = self.dir / "server.log"
        self.port = 0

    # ---- commands, as the cluster's owner ---------------------------------------------

    def _cmd(self, tool: str, *args: str) -> list[str]:
        argv = [str(self.bin / tool), *args]
        return ["runuser", "-u", self.user, "--", *argv] if self.user else argv

    def _run(self, tool: str, *args: str, timeout: float = START_TIMEOUT + 30,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self._cmd(tool, *args), capture_output=True, text=True,
                              timeout=timeout, cwd=self.dir, check=False)
        if check and done.returncode != 0:
            raise PgServerError(f"{tool} {' '.join(args)} failed ({done.returncode}):\n"
                                f"{done.stdout}{done.stderr}\n{self.log_tail()}")
        return done

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # ---- life cycle ------------------------------------------------------------------

    def start(self) -> PgServer:
        self.socket_dir.mkdir()
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.dir, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        # A free port can be taken between the probe and the bind: try a few.
        for attempt in range(3):
            self.port = free_port()
            if self._pg_ctl_start(check=attempt == 2):
                return self
        raise PgServerError("unreachable")

    def _options(self) -> str:
        settings = {"listen_addresses": "127.0.0.1", "port": str(self.port),
                    "unix_socket_directories": str(self.socket_dir),
                    # fsync off: a server crash (restart -m immediate) keeps every commit, as
                    # the OS keeps its cache; synchronous_commit stays on, or it would not.
                    "fsync": "off", "full_page_writes": "off",
                    "max_connections": "300", "shared_buffers": "32MB"}
        return " ".join(f"-c {k}={v}" for k, v in settings.items())

    def _pg_ctl_start(self, check: bool = True) -> bool:
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w",
                         "-t", str(START_TIMEOUT), "-o", self._options(), "start",
                         check=check)
        return done.returncode == 0

    def restart_immediate(self) -> None:
        """A crash and a restart: `pg_ctl restart -m immediate` (no checkpoint, every
        connection cut), back when it accepts connections again."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w",
                  "-t", str(START_TIMEOUT), "-m", "immediate", "-o", self._options(),
                  "restart")

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                      check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- databases -------------------------------------------------------------------

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{db}"

    def sql(self, *statements: str, db: str = "postgres") -> list[Sequence[object]]:
        """Run statements with autocommit (CREATE DATABASE needs it); rows of the last."""
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True, connect_timeout=10) as conn:
            rows: list[Sequence[object]] = []
            for statement in statements:
                cur = conn.execute(statement)  # type: ignore[arg-type]
                rows = cur.fetchall() if cur.description else []
            return rows

    def wait_ready(self, deadline: float = START_TIMEOUT) -> None:
        """Until a connection succeeds (at most `deadline` seconds)."""
        wait_connectable(self.url(), deadline)


def wait_connectable(url: str, deadline: float) -> None:
    """Until a connection to `url` succeeds (at most `deadline` seconds): a server that was
    just started has no event to wait on, so connecting is the observable condition."""
    import psycopg

    end = time.monotonic() + deadline
    while True:
        try:
            # no server-side prepared statements: PgBouncer's transaction mode takes none
            psycopg.connect(url, connect_timeout=2, prepare_threshold=None).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)  # a bounded retry of a connect, not a wait for a state


def find_pgbouncer() -> Path:
    for candidate in ("/usr/sbin/pgbouncer", shutil.which("pgbouncer") or ""):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise PgServerError("PgBouncer is not installed (.ci/run installs Debian's pgbouncer)")


class PgBouncer:
    """PgBouncer in transaction mode in front of `server`, on a free loopback port: what a
    host behind a pooler meets (no session state between transactions)."""

    def __init__(self, server: PgServer) -> None:
        self.server = server
        self.binary = find_pgbouncer()
        self.dir = server.dir / f"pgbouncer-{free_port()}"
        self.port = 0

    def start(self) -> PgBouncer:
        self.dir.mkdir()
        (self.dir / "users.txt").write_text(f'"{SUPERUSER}" ""\n')
        self.port = free_port()
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.server.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.dir / 'users.txt'}\n"
            "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 10\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\npidfile = {self.dir / 'pgbouncer.pid'}\n")
        user = self.server.user
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        argv = [str(self.binary), "-d", str(self.dir / "pgbouncer.ini")]  # -d: daemon
        argv = ["runuser", "-u", user, "--", *argv] if user else argv
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise PgServerError(f"pgbouncer failed to start: {done.stdout}{done.stderr}")
        self._wait_ready()
        return self

    def _wait_ready(self, deadline: float = 30) -> None:
        wait_connectable(self.url("postgres"), deadline)

    def url(self, db: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        pidfile = self.dir / "pgbouncer.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pidfile.read_text().strip()), 15)
