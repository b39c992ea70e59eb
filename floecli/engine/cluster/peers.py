"""Asking the other hosts of `common.hosts` through their p2p routes (floe-reference §5.1)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx

log = logging.getLogger(__name__)

TIMEOUT = 3.0  # a peer slower than this is skipped: one dead host must not stall the API


def peer_root(host: str, base_url: str) -> str:
    """`<host><base-url>/p2p`; a bare `name:port` is taken as plain http."""
    host = host.rstrip("/")
    if "://" not in host:
        host = "http://" + host
    return f"{host}{base_url or '/build/api'}/p2p"


class Peers:
    """The configured hosts; every call skips (and logs) a host that fails, never raises."""

    def __init__(self, hosts: Sequence[str], base_url: str, admin_token: str,
                 timeout: float = TIMEOUT,
                 roots_of: Callable[[], list[str]] | None = None) -> None:
        self._roots = [peer_root(h, base_url) for h in hosts]
        # In a cluster: the other hosts that answer (cluster/membership.py), so a dead or
        # self-listed host costs no request.
        self._roots_of = roots_of
        self.admin_token = admin_token
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    @property
    def roots(self) -> list[str]:
        return self._roots_of() if self._roots_of is not None else self._roots

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # verify=False: peers commonly use self-signed certificates on a private network;
            # the shared admin token is what authenticates them.
            self._client = httpx.AsyncClient(timeout=self.timeout, verify=False,
                                             headers={"X-Floe-Auth": self.admin_token})
        return self._client

    async def _get(self, root: str, path: str) -> Any | None:
        try:
            r = await self._http().get(root + path)
        except httpx.HTTPError as e:
            log.warning("peer %s: %s: %s", root, path, e or type(e).__name__)
            return None
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            log.warning("peer %s: %s: HTTP %d", root, path, r.status_code)
            return None
        try:
            return r.json().get("Payload")
        except (ValueError, AttributeError):
            log.warning("peer %s: %s: reply is not the API's JSON", root, path)
            return None

    async def run_summaries(self, flow_id: str) -> list[dict[str, list[dict[str, Any]]]]:
        """Each reachable peer's `{Active, Pending, Archive}` for the flow, in `hosts` order."""
        answers = await asyncio.gather(*(self._get(root, f"/flows/{flow_id}/runs")
                                          for root in self.roots))
        return [a for a in answers if isinstance(a, dict)]

    async def find_run(self, flow_id: str, run_id: str) -> dict[str, Any] | None:
        """The raw run record from the first peer that has it."""
        for root in self.roots:
            payload = await self._get(root, f"/flows/{flow_id}/runs/{run_id}")
            if isinstance(payload, dict):
                return payload
        return None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
