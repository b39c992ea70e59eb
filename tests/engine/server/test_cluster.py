"""Several real engine processes as one cluster (`common.hosts`): hand-off by host tags,
waiting with a true reason, resource tags across hosts, exactly once through a crash, one
view from every host, and a host with the wrong token refused."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
from clustertest import (
    SwallowingProxy,
    cluster,
    flow,
    online_peers,
    push,
    runs,
    side_lines,
)
from servertest import ADMIN, run_view, wait_ended, wait_until


def exec_host(c: httpx.Client, flow_id: str, run_id: str) -> str:
    return str(run_view(c, flow_id, run_id)["Summary"]["Ref"]["ExecHost"])


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_run_goes_to_the_host_with_the_tags_waits_while_it_is_down_and_starts_when_back(
        tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    with cluster(tmp_path, ["linux", "linux,gpu", "linux"],
                 [flow("train", side, host_tags=("linux", "gpu"))]) as hosts:
        hosts.start_all()
        with hosts.client(0) as h1, hosts.client(1) as h2:
            wait_until(lambda: online_peers(h1) == {"h2", "h3"}, 10, "h1 to see h2 and h3")
            first = push(h1, "train")
            assert first.startswith("h1-")
            wait_ended(h1, "train", first)
            assert exec_host(h1, "train", first) == "h2"  # h1 has no gpu
            assert exec_host(h2, "train", first) == "h2"

            hosts.engines[1].stop(signal.SIGKILL)
            second = push(h1, "train")
            reason = wait_until(
                lambda: next((p.get("Reason", "") for p in runs(h1, "train")["Pending"]
                              if "h2 offline since" in p.get("Reason", "")), ""),
                10, "the pend to say h2 is offline")
            assert "no online host has tags [gpu]" in reason, reason
            hosts_seen = h1.get("/hosts").json()["Payload"]["AllHosts"]
            assert hosts_seen["h2"]["Online"] is False and hosts_seen["h2"]["Tags"] == [
                "linux", "gpu"]

            hosts.start(1)  # the same port and store
            back = time.time()
            view = wait_ended(h1, "train", second, timeout=20)
            assert view["Summary"]["Ref"]["ExecHost"] == "h2"
            started = when(view["Summary"]["StartTime"])
            assert started - back < 1.0, f"started {started - back:.3f}s after h2 was back"
        assert Counter(line.split()[0] for line in side_lines(side)) == {first: 1, second: 1}


def test_two_flows_sharing_a_resource_tag_on_different_hosts_never_overlap(
        tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    flows = [flow("x", side, host_tags=("a",), resource_tags=("db",), sleep=0.2),
             flow("y", side, host_tags=("b",), resource_tags=("db",), sleep=0.2)]
    with cluster(tmp_path, ["a", "b", "c"], flows) as hosts:
        hosts.start_all()
        with hosts.client(0) as h1, hosts.client(1) as h2, hosts.client(2) as h3:
            wait_until(lambda: online_peers(h3) == {"h1", "h2"}, 10, "h3 to see h1 and h2")
            wait_until(lambda: online_peers(h1) == {"h2", "h3"}, 10, "h1 to see h2 and h3")
            wait_until(lambda: online_peers(h2) == {"h1", "h3"}, 10, "h2 to see h1 and h3")
            started = []
            for n in range(4):  # from every host, so both local starts and hand-offs race
                for c, f in ((h1, "x"), (h2, "y"), (h3, "x" if n % 2 else "y")):
                    started.append((f, push(c, f)))
            views = [wait_ended(h3, f, r, timeout=60) for f, r in started]
        spans = sorted((when(v["Summary"]["StartTime"]), when(v["Summary"]["EndTime"]),
                        v["Summary"]["Ref"]["ExecHost"]) for v in views)
        assert {s[2] for s in spans} == {"h1", "h2"}
        for (_, end, _), (start, _, _) in itertools.pairwise(spans):
            assert start >= end, f"runs holding resource tag db overlap: {spans}"
        assert len(side_lines(side)) == len(started)


def test_the_adopting_host_killed_after_its_offer_arrived_runs_it_exactly_once(
        tmp_path: Path) -> None:
    """h1 offers a run to h2 and dies before it hears the 200. When h1 is back, h3 (which
    could run it too, and comes first in `hosts`) is online: the run must still go to h2
    only, which has it already, so it runs once."""
    side = tmp_path / "side.txt"
    with cluster(tmp_path, ["linux", "gpu", "gpu"],
                 [flow("train", side, host_tags=("gpu",))]) as hosts:
        proxy = SwallowingProxy(hosts.ports[1])
        try:
            # h1 reaches h2 through the proxy, which loses the reply to h1's offer
            p1, p2, p3 = hosts.ports
            hosts.app = hosts.app.replace(
                f"127.0.0.1:{p1}, 127.0.0.1:{p2}, 127.0.0.1:{p3}",
                f"127.0.0.1:{p1}, 127.0.0.1:{p3}, 127.0.0.1:{proxy.port}")
            hosts.start(0)
            hosts.start(1)
            with hosts.client(0) as h1, hosts.client(1) as h2:
                wait_until(lambda: online_peers(h1) == {"h2"}, 10, "h1 to see h2")
                proxy.swallow.set()
                run = push(h1, "train")
                assert proxy.offered.wait(10), "h1 never offered the run"
                assert proxy.answer is not None and proxy.answer[0] == 200, proxy.answer
                hosts.engines[0].stop(signal.SIGKILL)  # before it heard the 200
                wait_ended(h2, "train", run)
                proxy.swallow.clear()
                hosts.start(2)
                hosts.start(0)
            with hosts.client(0) as h1:
                # h1 offers it again to h2 only, hears "already started", drops its pend
                wait_until(lambda: not runs(h1, "train")["Pending"], 20,
                           "h1 to drop the pend h2 took")
                assert online_peers(h1) == {"h2", "h3"}
                assert [s["Ref"]["Run"]["ID"] for s in runs(h1, "train")["Archive"]] == [
                    int(run.split("-")[1])]
                assert exec_host(h1, "train", run) == "h2"
            assert side_lines(side) == [f"{run} train"]
        finally:
            proxy.close()


def test_two_hundred_runs_across_the_cluster_each_run_once_and_every_host_lists_all(
        tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    with cluster(tmp_path, ["x", "w", "w"], [flow("f", side, host_tags=("w",))]) as hosts:
        hosts.start_all()
        clients = [hosts.client(i) for i in range(3)]
        try:
            for i, c in enumerate(clients):
                others = {f"h{j + 1}" for j in range(3) if j != i}
                wait_until(lambda c=c, o=others: online_peers(c) == o, 10, "hosts to meet")
            ids = [push(clients[n % 3], "f") for n in range(200)]
            wait_until(lambda: len(side_lines(side)) >= 200, 120, "200 side effects")
            for c in clients:
                listed = wait_until(
                    lambda c=c: (r := runs(c, "f")) and not r["Active"] and not r["Pending"]
                    and len(r["Archive"]) == 200 and r, 60, "every run archived")
                assert sorted(f"{s['Ref']['Run']['HostID']}-{s['Ref']['Run']['ID']}"
                              for s in listed["Archive"]) == sorted(ids)
                assert all(s["Good"] for s in listed["Archive"])
            counted = Counter(line.split()[0] for line in side_lines(side))
            assert counted == Counter(ids)  # each exactly once
            executed = Counter(s["Ref"]["ExecHost"] for s in runs(clients[0], "f")["Archive"])
            assert set(executed) == {"h2", "h3"}  # h1 has no tag w: it handed all its own off
        finally:
            for c in clients:
                c.close()


def test_a_host_with_another_admin_token_is_refused_and_gets_no_work(tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    with cluster(tmp_path, ["linux", "linux", "gpu"],
                 [flow("train", side, host_tags=("gpu",))],
                 admins=[ADMIN, ADMIN, "not-the-token"]) as hosts:
        hosts.start_all()
        with hosts.client(0) as h1:
            wait_until(lambda: online_peers(h1) == {"h2"}, 10, "h1 to see h2")
            entry = f"http://127.0.0.1:{hosts.ports[2]}"
            refused = wait_until(
                lambda: (h := h1.get("/hosts").json()["Payload"]["AllHosts"].get(entry))
                and h["Refused"] and h, 10, "h1 to mark h3 refused")
            assert refused["Online"] is False and "401" in refused["Problem"]
            run = push(h1, "train")
            reason = wait_until(
                lambda: next((p["Reason"] for p in runs(h1, "train")["Pending"]
                              if "refused the host token (401)" in p.get("Reason", "")), ""),
                10, "the pend to say why it waits")
            assert "no online host has tags [gpu]" in reason
            assert runs(h1, "train")["Pending"][0]["Ref"]["Run"]["ID"] == int(run.split("-")[1])
        assert "refused this host's token (401)" in hosts.engines[0].stderr
        assert not side.exists()


QUICK_START_APP = """\
common:
  hosts: [127.0.0.1:8080, "http://127.0.0.1:8090"]
flows:
  - id: hello
    ver: 1
    triggers: [{id: start, type: data}]
    tasks: [{id: a, listen: trigger.good, type: exec, opts: {shell: "echo hello"}}]
"""


def test_the_quick_start_two_hosts_in_one_directory_both_serve(tmp_path: Path) -> None:
    """The seed's two commands, verbatim, in one directory: each host has its own store."""
    (tmp_path / "config.yml").write_text(QUICK_START_APP)
    home = tmp_path / "home"
    home.mkdir()
    floe = str(Path(sys.executable).parent / "floe")
    env = {**os.environ, "HOME": str(home)}
    commands = [
        "floe -tags=linux,go,couch -admin=123456 -host_name=h1 -pub_bind=127.0.0.1:8080",
        "floe -tags=linux,go,couch -admin=123456 -host_name=h2 -pub_bind=127.0.0.1:8090",
    ]
    procs = []
    try:
        for n, command in enumerate(commands):
            err = (tmp_path / f"h{n + 1}.err").open("wb")
            procs.append(subprocess.Popen([floe, *command.split()[1:]], cwd=tmp_path, env=env,
                                          stdout=subprocess.DEVNULL, stderr=err))
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}/build/api",
                                headers={"X-Floe-Auth": "123456"}, timeout=10)
                   for port in (8080, 8090)]

        def serving(c: httpx.Client) -> bool:
            for p in procs:
                assert p.poll() is None, (tmp_path / "h2.err").read_text()
            try:
                return c.get("/health").status_code == 200
            except httpx.HTTPError:
                return False

        for c, other in zip(clients, ("h2", "h1"), strict=True):
            wait_until(lambda c=c: serving(c), 30, "both hosts to serve")
            wait_until(lambda c=c, o=other: online_peers(c) == {o}, 10, "the hosts to meet")
        run = push(clients[0], "hello")
        wait_ended(clients[0], "hello", run)
        # each host has its own store, under $HOME/.floe/hosts/<host name>
        assert (home / ".floe" / "hosts" / "h1" / "store" / "floe.db").is_file()
        assert (home / ".floe" / "hosts" / "h2" / "store" / "floe.db").is_file()
        seen = [[s["Ref"]["Run"]["ID"] for s in runs(c, "hello")["Archive"]] for c in clients]
        assert seen == [[1], [1]]  # h2 lists h1's run too
        for c in clients:
            c.close()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)


def gated_flow(flow_id: str) -> str:
    """Runs only on gpu hosts; waits at a form, so a run stays active until it is fed."""
    return (f"  - id: {flow_id}\n    ver: 1\n    host-tags: [gpu]\n"
            f"    triggers: [{{id: start, type: data}}]\n    tasks:\n"
            f"      - {{id: build, listen: trigger.good, type: exec, opts: {{shell: "
            f"\"echo built on $(hostname)\"}}}}\n"
            f"      - id: sign-off\n        listen: task.build.good\n        type: data\n"
            f"        opts: {{form: {{title: Sign off, fields: [{{id: ok, prompt: OK}}]}}}}\n"
            f"      - {{id: done, listen: task.sign-off.good, type: end}}")


async def cluster_events(url: str, flow_id: str, into: list[dict], ready) -> None:
    import json

    import websockets

    ws_url = url.replace("http://", "ws://", 1)
    async with websockets.connect(f"{ws_url}/ws?cluster=1&flow={flow_id}", open_timeout=10,
                                  additional_headers={"X-Floe-Auth": ADMIN,
                                                      "Origin": url}) as ws:
        ready.set()
        async for text in ws:
            event = json.loads(text)
            into.append(event)
            if event["Tag"] == "sys.end.all":
                return


def test_any_host_shows_forwards_and_feeds_the_runs_of_every_host(tmp_path: Path) -> None:
    import asyncio
    import threading

    from floecli.engine.server.passwords import hash_password

    users = f'  users: [{{name: ann, role: admin, password-hash: "{hash_password("pw")}"}}]\n'
    with cluster(tmp_path, ["linux", "gpu"], [gated_flow("ship")], common=users) as hosts:
        hosts.start_all()
        with hosts.client(0) as h1:
            wait_until(lambda: online_peers(h1) == {"h2"}, 10, "h1 to see h2")
            events: list[dict] = []
            ready = threading.Event()
            watcher = threading.Thread(target=lambda: asyncio.run(
                cluster_events(hosts.engines[0].url(), "ship", events, ready)), daemon=True)
            watcher.start()
            assert ready.wait(10)
            run = push(h1, "ship")
            waiting = wait_until(
                lambda: (v := run_view(h1, "ship", run)) and any(
                    n["ID"] == "sign-off" and n["Enabled"] for level in v["Graph"]
                    for n in level) and v, 20, "the form to wait (seen from h1)")
            assert waiting["Summary"]["Ref"]["ExecHost"] == "h2"
            logs = h1.get(f"/flows/ship/runs/{run}/logs")  # forwarded to h2
            assert logs.status_code == 200, logs.text
            assert any(line.startswith("built on") for line in logs.json()["Payload"]["build"])
            fed = h1.post("/push/data", json={"Ref": {"ID": "ship", "Ver": 1}, "Run": run,
                                              "Form": {"ID": "sign-off",
                                                       "Values": {"ok": "yes"}}})
            assert fed.status_code == 200, fed.text
            assert wait_ended(h1, "ship", run)["Summary"]["Good"]
            kept = h1.post(f"/flows/ship/runs/{run}/keep")  # forwarded: h2 keeps its runs
            assert (kept.status_code, kept.json()["Payload"]) == (200, {"Kept": True})
            again = h1.post(f"/flows/ship/runs/{run}/rerun", json={})  # where it ran
            assert again.status_code == 200, again.text
            assert again.json()["Payload"]["Run"].startswith("h2-")
            watcher.join(10)
            # h1's own events and h2's, relayed by h1's websocket
            seen = [(e["Tag"], e.get("Opts", {}).get("action")) for e in events
                    if f"{e['RunRef']['Run']['HostID']}-{e['RunRef']['Run']['ID']}" == run]
            assert ("sys.state", "add-pend") in seen  # on h1
            assert ("sys.state", "activate") in seen and ("sys.node.start", None) in seen
            assert seen[-1] == ("sys.end.all", None), seen

            other = push(h1, "ship")
            wait_until(lambda: run_view(h1, "ship", other)["Summary"]["Ref"]["ExecHost"]
                       == "h2", 20, "the second run to start on h2")
            token = h1.post("/login", json={"User": "ann", "Password": "pw"}).json()["Payload"]
            stopped = h1.post(f"/flows/ship/runs/{other}/stop",  # forwarded to h2
                              headers={"X-Floe-Auth": token["Token"]})
            assert stopped.status_code == 200, stopped.text
            view = wait_ended(h1, "ship", other)
            assert not view["Summary"]["Good"]
            assert view["Summary"].get("Reason") == "stopped", view["Summary"]
            assert view["Summary"].get("StoppedBy") == "ann", view["Summary"]  # who asked h1


def test_a_timer_fires_once_per_cluster_not_once_per_host(tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    timed = (f"  - {{id: tick, ver: 1, triggers: [{{id: t, type: timer, opts: {{period: 1}}}}], "
             f"tasks: [{{id: a, listen: trigger.good, type: exec, opts: {{shell: "
             f"\"echo $(basename $FLOEWS) >> {side}\"}}}}]}}")
    with cluster(tmp_path, ["linux", "linux", "linux"], [timed]) as hosts:
        hosts.start_all()
        with hosts.client(2) as h3:
            wait_until(lambda: online_peers(h3) == {"h1", "h2"}, 10, "the hosts to meet")
            seen = len(side_lines(side))
            wait_until(lambda: len(side_lines(side)) >= seen + 4, 20, "four ticks")
        # every tick after the hosts met was one run, adopted by the leader (lowest id)
        assert {line.split("-")[0] for line in side_lines(side)[seen:]} == {"h1"}
