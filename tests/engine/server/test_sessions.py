"""Sessions answer to the current user list, expire absolutely, and end with logout or a new
password; logins back off per user and per address and hash for unknown users too."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from servertest import ADMIN

from floecli.engine.errors import RequestError
from floecli.engine.flow import User
from floecli.engine.server.auth import SESSION_IDLE, SESSION_MAX, Sessions
from floecli.engine.server.passwords import hash_password, verify_password
from floecli.engine.store.memory import MemoryStore

ANN = User("ann", "admin", hash_password("s3cret"))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def _status(sessions: Sessions, token: str) -> int | str:
    try:
        return (await sessions.authenticate(token)).role
    except RequestError as e:
        return e.status


async def test_a_restart_applies_the_current_role_and_users() -> None:
    store = MemoryStore()
    token = (await Sessions(store, [ANN]).login("ann", "s3cret")).token
    demoted = Sessions(store, [User("ann", "viewer", ANN.password_hash)])
    assert await _status(demoted, token) == "viewer"
    assert await _status(Sessions(store, []), token) == 401  # removed
    assert await _status(Sessions(store, [ANN]), token) == 401  # and forgotten


async def test_a_new_password_ends_sessions_and_so_does_logout() -> None:
    store = MemoryStore()
    first = Sessions(store, [ANN])
    token = (await first.login("ann", "s3cret")).token
    changed = Sessions(store, [User("ann", "admin", hash_password("new", method="pbkdf2"))])
    assert await _status(changed, token) == 401
    other = (await first.login("ann", "s3cret")).token
    first.logout(await first.authenticate(other))
    assert await _status(Sessions(store, [ANN]), other) == 401


async def test_sessions_expire_when_idle_and_absolutely() -> None:
    clock = Clock()
    sessions = Sessions(MemoryStore(), [ANN], clock=clock)
    idle = (await sessions.login("ann", "s3cret")).token
    busy = (await sessions.login("ann", "s3cret")).token
    clock.now += SESSION_IDLE + 1
    assert await _status(sessions, idle) == 401
    busy = (await sessions.login("ann", "s3cret")).token
    start = clock.now
    while clock.now - start < SESSION_MAX - SESSION_IDLE / 2:  # used often: never idle
        assert await _status(sessions, busy) == "admin"
        clock.now += SESSION_IDLE / 2
    clock.now = start + SESSION_MAX + 1
    assert await _status(sessions, busy) == 401


async def test_admin_token_sessions_end_with_the_token() -> None:
    store = MemoryStore()
    token = (await Sessions(store, [], "tok-1").login("admin", "tok-1")).token
    assert await _status(Sessions(store, [], "tok-1"), token) == "admin"
    assert await _status(Sessions(store, [], "tok-2"), token) == 401


async def test_unknown_users_cost_a_password_hash_too() -> None:
    checked: list[str] = []

    def verify(password: str, stored: str) -> bool:
        checked.append(stored)
        return verify_password(password, stored)

    sessions = Sessions(MemoryStore(), [ANN], verify=verify)
    for user in ("ann", "nobody"):
        with pytest.raises(RequestError):
            await sessions.login(user, "wrong", "10.0.0.1")
    assert len(checked) == 2 and all(c.startswith("scrypt$") for c in checked)


async def test_failed_logins_back_off_per_address_and_user_there() -> None:
    clock = Clock()
    sessions = Sessions(MemoryStore(), [ANN], clock=clock)
    sessions.by_user.clock = sessions.by_address.clock = clock
    for _ in range(sessions.by_user.free):
        with pytest.raises(RequestError) as e:
            await sessions.login("ann", "wrong", "10.0.0.1")
        assert e.value.status == 401
    with pytest.raises(RequestError) as e:  # even the right password, from there
        await sessions.login("ann", "s3cret", "10.0.0.1")
    assert e.value.status == 429 and e.value.headers["Retry-After"] == "1"
    # never from another address: a guesser cannot lock a user out
    assert (await sessions.login("ann", "s3cret", "10.0.0.2")).role == "admin"
    clock.now += 1.5
    assert (await sessions.login("ann", "s3cret", "10.0.0.1")).role == "admin"
    # one address guessing many names is slowed as well
    for k in range(sessions.by_address.free):
        with pytest.raises(RequestError):
            await sessions.login(f"u{k}", "x", "10.0.0.3")
    with pytest.raises(RequestError) as e:
        await sessions.login("ann", "s3cret", "10.0.0.3")
    assert e.value.status == 429
    assert (await sessions.login("ann", "s3cret", "10.0.0.4")).role == "admin"


def test_concurrent_guesses_are_refused_not_all_processed(start_engine):
    engine = start_engine("common: {store-type: memory}\nflows: []\n")

    async def attempt(i: int) -> int:
        # Raw streams: httpx's pool is slower than the engine with 400 requests queued.
        reader, writer = await asyncio.open_connection("127.0.0.1", engine.ports["pub"])
        body = json.dumps({"User": "admin", "Password": f"guess-{i}"}).encode()
        writer.write(b"POST /build/api/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        head = await reader.read()
        writer.close()
        return int(head.split(b" ", 2)[1])

    async def burst() -> list[int]:
        async with asyncio.timeout(90):
            return await asyncio.gather(*(attempt(i) for i in range(400)))

    codes = asyncio.run(burst())
    assert set(codes) == {401, 429}
    # The user's free attempts, plus those let through as the backoff lapsed during the
    # burst; the rest were refused before any hash work.
    assert codes.count(401) <= 20


def test_wrong_passwords_from_one_address_never_lock_out_another(start_engine):
    """Hammer admin with wrong passwords from 127.0.0.2, then log in from 127.0.0.1 at once."""
    engine = start_engine("common: {store-type: memory}\nflows: []\n")
    url = engine.url() + "/build/api/login"
    attacker = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=attacker, timeout=30) as c:
        codes = [c.post(url, json={"User": "admin", "Password": f"guess-{i}"}).status_code
                 for i in range(40)]
        assert set(codes) == {401, 429} and codes[-1] == 429
        r = c.post(url, json={"User": "admin", "Password": ADMIN})  # slowed there
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    r = httpx.post(url, json={"User": "admin", "Password": ADMIN}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["Payload"]["Role"] == "ADMIN"
