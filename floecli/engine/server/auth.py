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

from ..errors import RequestError
from ..flow import User
from ..store.base import RunStore
from .effects import READ, SESSION, WRITE, effect_of
from .origin import OriginPolicy
from .passwords import hash_password, verify_password
from .ratelimit import Backoff

AUTH_HEADER = "X-Floe-Auth"
COOKIE = "floe-sesh"
SESSION_IDLE = 240 * 3600.0  # sliding: each use moves the expiry (floe-reference §6.3)
SESSION_MAX = 30 * 24 * 3600.0  # absolute: however often it is used, a session ends
SESSION_TTL = SESSION_IDLE  # the name older code used
TOUCH_EVERY = 60.0  # write a session's last use back to the store at most this often
ROLE_ADMIN = "admin"
ROLE_VIEWER = "viewer"
NO_USERS = ("no users can log in: add one to common.users (make its password-hash with "
            "`floe passwd`), or start the engine with -admin=TOKEN")
KIND_USER = "user"  # opened with a password of common.users
KIND_TOKEN = "token"  # opened with the -admin token as admin's password
HASHING = 2  # password checks at once: each costs tens of milliseconds of a core
_PROOF_SALT = b"floe-session-proof"


@dataclass(frozen=True)
class Principal:
    user: str
    role: str
    token: str
    admin_token: bool = False  # the caller presented the -admin token itself

    @property
    def wire_role(self) -> str:
        return self.role.upper()  # the reference answers "ADMIN"


@dataclass
class _Session:
    user: str
    kind: str
    proof: str  # a digest of the credential it was opened with: changing it ends the session
    created: float  # epoch seconds
    last: float  # last use, epoch seconds
    saved: float  # `last` as last written to the store

    def to_json(self) -> dict[str, object]:
        return {"User": self.user, "Kind": self.kind, "Proof": self.proof,
                "Created": self.created, "LastUse": self.last}

    @classmethod
    def from_json(cls, doc: object) -> _Session | None:
        # Sessions stored before they carried a proof are not trusted: log in again.
        if not isinstance(doc, dict) or not doc.get("Proof") or not doc.get("Kind"):
            return None
        try:
            last = float(doc.get("LastUse", 0))
            return cls(str(doc["User"]), str(doc["Kind"]), str(doc["Proof"]),
                       float(doc.get("Created", 0)), last, last)
        except (KeyError, TypeError, ValueError):
            return None


def _key(token: str) -> str:
    # Stored by hash: a copy of the store does not hand out live sessions.
    return "sessions/" + hashlib.sha256(token.encode()).hexdigest()


def _user_proof(user: User) -> str:
    # The password hash is salted already; a new one (a password change) ends the sessions.
    return hashlib.sha256(b"user\0" + user.password_hash.encode()).hexdigest()


def _token_proof(token: str) -> str:
    # Slow on purpose: the store holds it, and an admin token may be guessable offline.
    return hashlib.scrypt(token.encode(), salt=_PROOF_SALT, n=1 << 14, r=8, p=1,
                          dklen=32).hex()


class Sessions:
    """Logins and the sessions they open. Sessions live in the run store so they survive a
    restart, with an in-memory copy so a request costs no store read; every use is checked
    against the current user list, so a removed user, a new password or a new role counts
    at once."""

    def __init__(self, store: RunStore, users: Sequence[User], admin_token: str = "",
                 clock: Callable[[], float] = time.time, *,
                 origins: OriginPolicy | None = None,
                 verify: Callable[[str, str], bool] = verify_password) -> None:
        self.store = store
        self.users = {u.name: u for u in users}
        self.admin_token = admin_token
        self.clock = clock
        self.origins = origins or OriginPolicy()
        self.verify = verify
        self._cache: dict[str, _Session] = {}
        self._token_proof = _token_proof(admin_token) if admin_token else ""
        # Unknown users cost the same hash work as known ones, so timing tells no names.
        self._dummy_hash = next((u.password_hash for u in users if u.password_hash),
                                "") or hash_password(secrets.token_hex(8))
        self.by_user = Backoff(free=5)
        self.by_address = Backoff(free=20)
        self._hashing = asyncio.Semaphore(HASHING)

    def _is_admin_token(self, token: str) -> bool:
        return bool(self.admin_token) and hmac.compare_digest(token.encode(),
                                                              self.admin_token.encode())

    async def login(self, user: str, password: str, address: str = "") -> Principal:
        if not self.users and not self.admin_token:
            raise RequestError(401, NO_USERS)
        # Failures slow the address they come from, and the user *from that address*: never
        # the user everywhere, or anyone could lock an admin out by guessing wrong for it.
        # Guessing from many addresses is bounded by the hashing itself (HASHING at once).
        keys = [f"user:{user}@{address}", *([f"address:{address}"] if address else [])]
        wait = max(self.by_user.wait(keys[0]),
                   self.by_address.wait(keys[1]) if len(keys) > 1 else 0.0)
        if wait > 0:
            seconds = max(1, round(wait))
            raise RequestError(429, f"too many failed logins: try again in {seconds} s",
                               {"RetryAfter": seconds}, headers={"Retry-After": str(seconds)})
        # Counted as failed until it succeeds, so concurrent guesses are limited too.
        self.by_user.failed(keys[0])
        if len(keys) > 1:
            self.by_address.failed(keys[1])
        known = self.users.get(user)
        stored = known.password_hash if known is not None and known.password_hash else ""
        async with self._hashing:
            matched = await asyncio.to_thread(self.verify, password,
                                              stored or self._dummy_hash)
        if stored and matched:
            assert known is not None
            session = self._open(user, KIND_USER, _user_proof(known))
            role = known.role
        elif user.lower() == "admin" and self._is_admin_token(password):
            # The -admin token doubles as admin's password: log in with it once and use the
            # session, so the token itself never travels in a cookie.
            session = self._open(user, KIND_TOKEN, self._token_proof)
            role = ROLE_ADMIN
        else:
            raise RequestError(401, "username or password were wrong")
        self.by_user.succeeded(keys[0])
        return Principal(session.user, role, session.token)

    def _open(self, user: str, kind: str, proof: str) -> _Opened:
        token = secrets.token_hex(16)
        now = self.clock()
        session = _Session(user, kind, proof, now, now, now)
        self._cache[token] = session
        self.store.put(_key(token), session.to_json())
        return _Opened(user, token)

    def _role(self, session: _Session) -> str:
        """The session's role under the current users and token; "" if it no longer holds."""
        if session.kind == KIND_TOKEN:
            ok = bool(self._token_proof) and hmac.compare_digest(session.proof,
                                                                 self._token_proof)
            return ROLE_ADMIN if ok else ""
        user = self.users.get(session.user)
        if (session.kind != KIND_USER or user is None or not user.password_hash
                or not hmac.compare_digest(session.proof, _user_proof(user))):
            return ""
        return user.role

    async def authenticate(self, token: str) -> Principal:
        if not token:
            raise RequestError(401, "missing session")
        if self._is_admin_token(token):
            return Principal("Admin", ROLE_ADMIN, token, admin_token=True)
        now = self.clock()
        session = self._cache.get(token)
        if session is None:
            session = _Session.from_json(await self.store.get(_key(token)))
            if session is not None:
                self._cache[token] = session
        role = self._role(session) if session is not None else ""
        if (session is None or not role or now - session.last > SESSION_IDLE
                or now - session.created > SESSION_MAX):
            if session is not None:
                self._forget(token)
            raise RequestError(401, "invalid session")
        session.last = now
        if now - session.saved > TOUCH_EVERY:
            session.saved = now
            self.store.put(_key(token), session.to_json())
        return Principal(session.user, role, token)

    def logout(self, principal: Principal) -> None:
        if not principal.admin_token:
            self._forget(principal.token)

    def _forget(self, token: str) -> None:
        self._cache.pop(token, None)
        self.store.delete(_key(token))

    def cookie(self, token: str, *, secure: bool = False) -> str:
        session = self._cache.get(token)
        now = self.clock()
        end = now + SESSION_IDLE
        if session is not None:
            end = min(end, session.created + SESSION_MAX)
        expires = datetime.fromtimestamp(end, UTC)
        return (f"{COOKIE}={token}; Path=/; "
                f"Expires={expires.strftime('%a, %d %b %Y %H:%M:%S GMT')}; HttpOnly; "
                f"SameSite=Lax{'; Secure' if secure else ''}")


@dataclass(frozen=True)
class _Opened:
    user: str
    token: str


def token_of(conn: HTTPConnection) -> str:
    return conn.headers.get(AUTH_HEADER) or conn.cookies.get(COOKIE) or ""


def is_secure(conn: HTTPConnection) -> bool:
    return conn.url.scheme in ("https", "wss")


async def require(conn: HTTPConnection, sessions: Sessions, effect: str = "") -> Principal:
    """The caller, or a 401/403 RequestError. `effect` is what the route declared
    (effects.py; read from the request when not given): a viewer may READ and end its own
    SESSION, only the admin role may WRITE, whatever the method is called. A session cookie
    is only honoured for writes and websockets from an allowed Origin (CSRF). The session
    cookie is refreshed on the reply (see middleware); the admin token is never put in one."""
    effect = effect or effect_of(conn)
    by_cookie = not conn.headers.get(AUTH_HEADER)
    principal = await sessions.authenticate(token_of(conn))
    if by_cookie and (conn.scope["type"] == "websocket" or effect in (WRITE, SESSION)):
        sessions.origins.check(conn)
    if principal.role != ROLE_ADMIN and effect not in (READ, SESSION):
        raise RequestError(403, f"user {principal.user} has role {principal.role}: "
                                "it may only read")
    if not principal.admin_token:
        state = conn.scope.setdefault("state", {})
        state["floe_cookie"] = sessions.cookie(principal.token, secure=is_secure(conn))
        state["floe_marker"] = app_marker(principal, sessions)
    return principal


def app_marker(principal: Principal, sessions: Sessions) -> str:
    """The script-visible login marker that goes with the session cookie (appcookie.py)."""
    from .appcookie import marker_cookie

    return marker_cookie(principal.user, principal.role, sessions.clock() + SESSION_TTL)
