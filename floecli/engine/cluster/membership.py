"""Who is in the cluster and who answers: the heartbeat over `p2p/config` (floe-reference §5.1).

Each `common.hosts` entry is polled at start and every HEARTBEAT seconds, with a timeout, so a
dead host never stalls anything. A host that stops answering is offline at once (a failed
hand-off marks it too) and is offered no work until it answers again; one that refuses the
shared token (401) is marked `refused` and gets no work either. A host recognises itself in
the list by its listen address or by the id the entry answers with, so listing itself is
allowed but not required. When a peer comes (back) online, `on_online` fires at once: the
dispatcher offers it what waits, without waiting for a tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..host import missing_tags
from ..store.base import HostSeen
from .peers import peer_root

log = logging.getLogger(__name__)

HEARTBEAT = 2.0  # seconds between polls of every peer; coming online is announced at once
POLL_TIMEOUT = 2.0  # a peer slower than this to answer its config is offline
LOCAL_NAMES = {"localhost": "127.0.0.1", "::1": "127.0.0.1", "[::1]": "127.0.0.1"}


def fmt_clock(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%H:%M:%S") if t else "start-up"


def fmt_iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None


def netloc(entry: str) -> str:
    """`host:port` of a hosts entry (scheme or not), with localhost spelled 127.0.0.1."""
    text = entry.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    host = LOCAL_NAMES.get(host, host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


@dataclass
class Peer:
    """One `common.hosts` entry as this host last saw it."""

    entry: str  # as configured
    root: str  # <entry><base-url>/p2p
    host_id: str = ""  # learned from its p2p/config; kept while it is offline
    tags: tuple[str, ...] | None = None
    online: bool = False
    refused: bool = False  # it answered 401 to the shared host token
    is_self: bool = False
    last_contact: datetime | None = None
    offline_since: datetime | None = None
    problem: str = ""  # why it is offline or refused, as the last poll saw it
    ever_polled: bool = False

    @property
    def base_url(self) -> str:
        text = self.entry.strip().rstrip("/")
        return text if "://" in text else "http://" + text

    @property
    def name(self) -> str:
        return self.host_id or self.entry

    def usable(self) -> bool:
        return self.online and not self.refused and not self.is_self

    def matches(self, host_tags: Iterable[str]) -> bool:
        """Every host-tag of a flow is one of this host's tags (floe-reference §5.1)."""
        return self.tags is not None and not missing_tags(host_tags, self.tags)

    def to_json(self) -> dict[str, Any]:
        return {"HostID": self.host_id, "BaseURL": self.base_url, "Online": self.online,
                "Tags": list(self.tags) if self.tags is not None else None,
                "Refused": self.refused, "LastContact": fmt_iso(self.last_contact),
                "OfflineSince": fmt_iso(self.offline_since), "Problem": self.problem,
                "Self": self.is_self}


@dataclass
class Membership:
    hosts: Sequence[str]
    base_url: str
    admin_token: str
    host_id: str
    tags: tuple[str, ...]
    heartbeat: float = HEARTBEAT
    timeout: float = POLL_TIMEOUT
    on_online: Callable[[Peer], None] = lambda peer: None
    peers: list[Peer] = field(default_factory=list)
    addresses: set[str] = field(default_factory=set)  # this host's listen addresses
    _client: httpx.AsyncClient | None = None
    _task: asyncio.Task[None] | None = None
    _polling: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    polled: bool = False  # every peer has been asked once (answered or not)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for entry in self.hosts:
            if not entry.strip() or netloc(entry) in seen:
                continue  # one host listed twice is one peer
            seen.add(netloc(entry))
            self.peers.append(Peer(entry, peer_root(entry, self.base_url)))

    # ---- reading --------------------------------------------------------------------------

    def others(self) -> list[Peer]:
        """The peers that are not this host, in `hosts` order."""
        return [p for p in self.peers if not p.is_self]

    def peer(self, host_id: str) -> Peer | None:
        return next((p for p in self.others() if p.host_id == host_id), None)

    def online_ids(self) -> list[str]:
        return [p.host_id for p in self.others() if p.usable() and p.host_id]

    def leader(self) -> bool:
        """Whether this host fires the cluster's timers and git polls: the lowest id among
        itself and the peers that answer. A host that cannot see the others fires its own,
        so a partition double-fires rather than never fires."""
        return all(self.host_id <= other for other in self.online_ids())

    def to_json(self) -> dict[str, Any]:
        """`AllHosts` of p2p/config: every host by id, a peer not reached yet by its URL
        (the reference collapsed those under "")."""
        out: dict[str, Any] = {self.host_id: {
            "HostID": self.host_id, "BaseURL": "", "Online": True, "Tags": list(self.tags),
            "Refused": False, "LastContact": fmt_iso(datetime.now(UTC)),
            "OfflineSince": None, "Problem": "", "Self": True}}
        for p in self.peers:
            if p.is_self:
                out[self.host_id]["BaseURL"] = p.base_url
                continue
            out[p.host_id or p.base_url] = p.to_json()
        return out

    # ---- life cycle -----------------------------------------------------------------------

    def listening_on(self, addresses: Iterable[str]) -> None:
        """This host's bound `host:port`s: an entry naming one of them is this host."""
        self.addresses = {netloc(a) for a in addresses}
        wildcard_ports = {a.rsplit(":", 1)[1] for a in self.addresses
                          if a.startswith(("0.0.0.0:", "[::]:", ":"))}
        for p in self.peers:
            where = netloc(p.entry)
            if where in self.addresses or (
                    where.rsplit(":", 1)[1] in wildcard_ports
                    and where.startswith("127.0.0.1:")):
                self._is_me(p)

    def _is_me(self, p: Peer) -> None:
        p.is_self, p.host_id, p.tags, p.online = True, self.host_id, self.tags, True

    def http(self) -> httpx.AsyncClient:
        if self._client is None:
            # verify=False: peers commonly use self-signed certificates on a private network;
            # the shared admin token is what authenticates them.
            self._client = httpx.AsyncClient(
                verify=False, headers={"X-Floe-Auth": self.admin_token, "X-Floe-Host":
                                       self.host_id},
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
        return self._client

    def start(self) -> None:
        if self.peers and self._task is None:
            self._task = asyncio.create_task(self._beat(), name="heartbeat")

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._polling.values()) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _beat(self) -> None:
        while True:
            await self.poll_all()
            await asyncio.sleep(self.heartbeat)

    async def poll_all(self) -> None:
        await asyncio.gather(*(self.poll(p) for p in self.peers if not p.is_self))
        self.polled = True

    def poll_soon(self, host_id: str = "") -> None:
        """Poll now the peer that says `host_id` is back (every peer not online when the id
        is not known yet): a host announcing itself is dispatched to within milliseconds."""
        for i, p in enumerate(self.peers):
            if p.is_self or (p.online and p.host_id == host_id and not p.refused):
                continue
            if host_id and p.host_id and p.host_id != host_id:
                continue
            if i not in self._polling:
                task = asyncio.create_task(self.poll(p), name=f"poll {p.entry}")
                self._polling[i] = task
                task.add_done_callback(lambda _t, i=i: self._polling.pop(i, None))

    async def poll(self, p: Peer) -> None:
        try:
            r = await self.http().get(p.root + "/config", timeout=self.timeout)
        except httpx.HTTPError as e:
            self.lost(p, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
            return
        p.ever_polled = True
        if r.status_code == 401:
            if not p.refused:
                log.error("host %s refused this host's token (401): it gets no work until "
                          "every host is started with the same -admin", p.name)
            p.refused, p.online, p.problem = True, False, "refused the host token (401)"
            return
        try:
            config = (r.json().get("Payload") or {}).get("Config") or {}
            host_id = str(config.get("HostID") or "")
        except (ValueError, AttributeError):
            host_id, config = "", {}
        if r.status_code != 200 or not host_id:
            self.lost(p, f"HTTP {r.status_code} from p2p/config")
            return
        if host_id == self.host_id:
            self._is_me(p)
            return
        was_online = p.online
        p.host_id, p.tags = host_id, tuple(str(t) for t in config.get("Tags") or ())
        p.online, p.refused, p.problem = True, False, ""
        p.last_contact, p.offline_since = datetime.now(UTC), None
        if not was_online:
            log.info("host %s (%s) is online, tags [%s]", host_id, p.base_url,
                     ", ".join(p.tags))
            self.on_online(p)

    def lost(self, p: Peer, why: str) -> None:
        """`p` did not answer: offline from now, until it answers again."""
        p.ever_polled = True
        if p.online or p.offline_since is None:
            p.offline_since = datetime.now(UTC)
            log.warning("host %s is offline: %s", p.name, why)
        p.online, p.problem = False, why

    def heard(self, p: Peer) -> None:
        """A request to `p` was answered: it is alive (its config is polled if it was not)."""
        p.last_contact = datetime.now(UTC)
        if not p.online:
            self.poll_soon(p.host_id)


def shared_hosts(rows: Iterable[HostSeen], me: str, lease: float) -> dict[str, Any]:
    """`AllHosts` for hosts sharing a store, in p2p/config's shape: a host is online while
    its heartbeat is younger than a lease (after that, another host takes its work over)."""
    now = datetime.now(UTC)
    out: dict[str, Any] = {}
    for row in rows:
        online = row.name == me or (now - row.last_seen).total_seconds() < lease
        seen = fmt_iso(row.last_seen)
        out[row.name] = {
            "HostID": row.name, "BaseURL": row.address, "Online": online,
            "Tags": list(row.tags), "Refused": False, "LastContact": seen,
            "OfflineSince": None if online else seen,
            "Problem": "" if online else f"no heartbeat for over {lease:g} s",
            "Self": row.name == me}
    return out
