"""Who is calling: the admin token, users of `common.users`, and sessions kept in the run store."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import HTTPConnection

from ..config.model import User
from ..errors import RequestError
from ..store.base import RunStore
from .passwords import verify_password

AUTH_HEADER = "X-Floe-Auth"
COOKIE = "floe-sesh"
SESSION_TTL = 240 * 3600.0  # sliding: each use moves the expiry (floe-reference §6.3)
TOUCH_EVERY = 60.0  # write a session's last use back to the store at most this often
ROLE_ADMIN = "admin"
ROLE_VIEWER = "viewer"
READ_METHODS = ("GET", "HEAD")
NO_USERS = ("no users can log in: add one to common.users (make its password-hash with "
            "`floe passwd`), or start the engine with -admin=TOKEN")


@dataclass(frozen=True)
class Principal:
    user: str
    role: str
    token: str

    @property
    def wire_role(self) -> str:
        return self.role.upper()  # the reference answers "ADMIN"


@dataclass
class _Session:
    user: str
    role: str
    last: float  # last use, epoch seconds
    saved: float  # `last` as last written to the store


def _key(token: str) -> str:
    # Stored by hash: a copy of the store does not hand out live sessions.
    return "sessions/" + hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Logins and the sessions they open; sessions live in the run store so they survive a
    restart, with an in-memory copy so a request costs no store read."""

    def __init__(self, store: RunStore, users: Sequence[User], admin_token: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.users = {u.name: u for u in users}
        self.admin_token = admin_token
        self.clock = clock
        self._cache: dict[str, _Session] = {}

    def _is_admin_token(self, token: str) -> bool:
        return bool(self.admin_token) and hmac.compare_digest(token.encode(),
                                                              self.admin_token.encode())

    async def login(self, user: str, password: str) -> Principal:
        if not self.users and not self.admin_token:
            raise RequestError(401, NO_USERS)
        role = ""
        known = self.users.get(user)
        if known is not None and known.password_hash and await asyncio.to_thread(
                verify_password, password, known.password_hash):
            role = known.role
        elif user.lower() == "admin" and self._is_admin_token(password):
            role = ROLE_ADMIN  # the -admin token doubles as admin's password
        if not role:
            raise RequestError(401, "username or password were wrong")
        token = secrets.token_hex(16)
        now = self.clock()
        self._cache[token] = _Session(user, role, now, now)
        self.store.put(_key(token), {"User": user, "Role": role, "LastUse": now})
        return Principal(user, role, token)

    async def authenticate(self, token: str) -> Principal:
        if not token:
            raise RequestError(401, "missing session")
        if self._is_admin_token(token):
            return Principal("Admin", ROLE_ADMIN, token)
        now = self.clock()
        session = self._cache.get(token)
        if session is None:
            doc = await self.store.get(_key(token))
            if isinstance(doc, dict):
                session = _Session(str(doc.get("User", "")), str(doc.get("Role", "")),
                                   float(doc.get("LastUse", 0)), float(doc.get("LastUse", 0)))
                self._cache[token] = session
        if session is None or now - session.last > SESSION_TTL:
            if session is not None:
                self._forget(token)
            raise RequestError(401, "invalid session")
        session.last = now
        if now - session.saved > TOUCH_EVERY:
            session.saved = now
            self.store.put(_key(token), {"User": session.user, "Role": session.role,
                                         "LastUse": now})
        return Principal(session.user, session.role, token)

    def logout(self, principal: Principal) -> None:
        if not self._is_admin_token(principal.token):
            self._forget(principal.token)

    def _forget(self, token: str) -> None:
        self._cache.pop(token, None)
        self.store.delete(_key(token))

    def cookie(self, token: str) -> str:
        expires = datetime.fromtimestamp(self.clock() + SESSION_TTL, UTC)
        return (f"{COOKIE}={token}; Path=/; "
                f"Expires={expires.strftime('%a, %d %b %Y %H:%M:%S GMT')}; HttpOnly; "
                "SameSite=Lax")


def token_of(conn: HTTPConnection) -> str:
    return conn.headers.get(AUTH_HEADER) or conn.cookies.get(COOKIE) or ""


async def require(conn: HTTPConnection, sessions: Sessions, *, write_ok: bool = False) -> Principal:
    """The caller, or a 401/403 RequestError. Viewers may only read (and log out: `write_ok`).
    The session cookie is refreshed on the reply (see middleware)."""
    principal = await sessions.authenticate(token_of(conn))
    method = conn.scope.get("method", "GET")
    if principal.role != ROLE_ADMIN and method not in READ_METHODS and not write_ok:
        raise RequestError(403, f"user {principal.user} has role {principal.role}: "
                                "it may only read")
    state = conn.scope.setdefault("state", {})
    state["floe_cookie"] = sessions.cookie(principal.token)
    state["floe_marker"] = app_marker(principal, sessions)
    return principal


def app_marker(principal: Principal, sessions: Sessions) -> str:
    """The script-visible login marker that goes with the session cookie (appcookie.py)."""
    from .appcookie import marker_cookie

    return marker_cookie(principal.user, principal.role, sessions.clock() + SESSION_TTL)
