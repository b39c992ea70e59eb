"""Helpers for cluster tests: several real engine processes on 127.0.0.1, each listing the
others in `common.hosts`, and a proxy that can swallow an offer's reply."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from servertest import ADMIN, EngineProcess, launch

HOSTS_APP = """\
common:
  store-type: local
  hosts: [{hosts}]
{extra}flows:
{flows}
"""


def free_ports(n: int) -> list[int]:
    """n ports nothing listens on now (held open together, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def flow(flow_id: str, side: Path, *, host_tags: tuple[str, ...] = (),
         resource_tags: tuple[str, ...] = (), sleep: float = 0.0) -> str:
    """A data-triggered flow whose one task appends `<run dir> <flow>` to `side`: the
    side effect a test counts."""
    tags = f"host-tags: [{', '.join(host_tags)}], " if host_tags else ""
    res = f"resource-tags: [{', '.join(resource_tags)}], " if resource_tags else ""
    pause = f"sleep {sleep}; " if sleep else ""
    return (f"  - {{id: {flow_id}, ver: 1, {tags}{res}"
            f"triggers: [{{id: start, type: data}}], "
            f"tasks: [{{id: a, listen: trigger.good, type: exec, opts: {{shell: "
            f"\"{pause}echo $(basename $FLOEWS) {flow_id} >> {side}\"}}}}]}}")


class Cluster:
    """Hosts `h1..hN` on fixed free ports; host i has tags `tags[i]`."""

    def __init__(self, tmp: Path, tags: list[str], flows: list[str],
                 admins: list[str] | None = None, entries: list[str] | None = None,
                 common: str = "") -> None:
        self.tmp = tmp
        self.tags = tags
        self.ports = free_ports(len(tags))
        self.admins = admins or [ADMIN] * len(tags)
        hosts = entries or [f"127.0.0.1:{p}" for p in self.ports]
        self.app = HOSTS_APP.format(hosts=", ".join(hosts), flows="\n".join(flows),
                                    extra=common)
        self.engines: dict[int, EngineProcess] = {}

    def start(self, i: int, app: str | None = None) -> EngineProcess:
        e = launch(self.tmp, app or self.app, f"-host_name=h{i + 1}", f"-tags={self.tags[i]}",
                   f"-pub_bind=127.0.0.1:{self.ports[i]}", admin=self.admins[i],
                   name=f"h{i + 1}")
        self.engines[i] = e
        return e

    def start_all(self) -> None:
        for i in range(len(self.tags)):
            self.start(i)

    def client(self, i: int) -> httpx.Client:
        return self.engines[i].client(self.admins[i])

    def stop_all(self) -> None:
        for e in self.engines.values():
            e.stop()


def online_peers(c: httpx.Client) -> set[str]:
    hosts = c.get("/hosts").json()["Payload"]["AllHosts"]
    return {h["HostID"] for h in hosts.values() if h["Online"] and not h.get("Self")}


def push(c: httpx.Client, flow_id: str) -> str:
    r = c.post("/push/data", json={"Ref": {"ID": flow_id, "Ver": 1}, "Form": {"ID": "start"}})
    assert r.status_code == 200, r.text
    return str(r.json()["Payload"]["Runs"][0])


def runs(c: httpx.Client, flow_id: str) -> dict[str, Any]:
    r = c.get(f"/flows/{flow_id}")
    assert r.status_code == 200, r.text
    return dict(r.json()["Payload"]["Runs"])


def side_lines(side: Path) -> list[str]:
    return side.read_text().splitlines() if side.exists() else []


class SwallowingProxy:
    """An HTTP proxy to one engine that passes everything through, except that, while
    `swallow` is set, it forwards an offer (`POST .../p2p/flows/exec`) and keeps the
    answer from the caller: the offer arrived, the reply is lost. `offered` is set then."""

    def __init__(self, target_port: int) -> None:
        self.target = f"http://127.0.0.1:{target_port}"
        self.swallow = threading.Event()
        self.offered = threading.Event()
        self.answer: tuple[int, str] | None = None
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                try:
                    r = httpx.request(self.command, proxy.target + self.path, content=body,
                                      headers=headers, timeout=30)
                except httpx.HTTPError:
                    self.send_error(502)
                    return
                if self.path.endswith("/p2p/flows/exec") and proxy.swallow.is_set():
                    proxy.answer = (r.status_code, r.text)
                    proxy.offered.set()
                    threading.Event().wait(60)  # the caller never hears back
                    return
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                         "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = _relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def cluster(tmp: Path, tags: list[str], flows: list[str], **kw: Any) -> Iterator[Cluster]:
    c = Cluster(tmp, tags, flows, **kw)
    try:
        yield c
    finally:
        c.stop_all()
    for e in c.engines.values():  # a failure inside a host fails the test that caused it
        assert "Traceback" not in e.stderr, e.stderr
