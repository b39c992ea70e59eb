"""Membership bookkeeping without a network: who is who, who leads, what p2p/config shows,
and what the grantor of resource tags answers."""

from __future__ import annotations

from floecli.engine.cluster.membership import Membership, netloc
from floecli.engine.cluster.resources import Resources
from floecli.engine.store.memory import MemoryStore


def members(*hosts: str, host_id: str = "h2") -> Membership:
    return Membership(list(hosts), "", "token", host_id, ("linux",))


def test_an_entry_is_the_same_host_with_or_without_scheme_or_as_localhost() -> None:
    assert netloc("127.0.0.1:8080") == netloc("http://localhost:8080/") == "127.0.0.1:8080"
    assert netloc("https://ci.example") == "ci.example:443"
    m = members("127.0.0.1:8080", "http://localhost:8080", "127.0.0.1:8090")
    assert [p.entry for p in m.peers] == ["127.0.0.1:8080", "127.0.0.1:8090"]


def test_a_host_finds_itself_by_its_listen_address_and_shows_every_peer_apart() -> None:
    m = members("127.0.0.1:8080", "127.0.0.1:8090", "10.0.0.9:8080")
    m.listening_on(["127.0.0.1:8090"])
    assert [p.entry for p in m.others()] == ["127.0.0.1:8080", "10.0.0.9:8080"]
    shown = m.to_json()
    # this host by its id; peers not reached yet by their address, never collapsed under ""
    assert set(shown) == {"h2", "http://127.0.0.1:8080", "http://10.0.0.9:8080"}
    assert shown["h2"]["Self"] and shown["h2"]["Tags"] == ["linux"]
    assert shown["http://10.0.0.9:8080"]["Online"] is False


def test_the_leader_is_the_lowest_id_that_answers() -> None:
    m = members("a:1", "b:1", host_id="h2")
    assert m.leader()  # nobody else answers: it fires its own timers
    m.peers[0].host_id, m.peers[0].online = "h1", True
    assert not m.leader()
    m.lost(m.peers[0], "gone")
    assert m.leader()


async def test_the_grantor_grants_each_tag_to_one_run_at_a_time_and_again_to_the_same() -> None:
    m = members("a:1", host_id="h1")
    m.polled = True
    store = MemoryStore()
    store.open()
    grants = Resources(m, store)
    assert grants.grantor() == ("h1", "")
    assert await grants.grant("h1-1", "h1", "x", ["db"]) == ""
    assert await grants.grant("h1-1", "h1", "x", ["db"]) == ""  # asked again: the same
    assert await grants.grant("h2-1", "h2", "y", ["db", "net"]) == (
        "resource tag db held by x h1-1 on h1")
    assert await grants.grant("h2-2", "h2", "z", ["net"]) == ""
    assert grants.release("h1-1")
    assert await grants.grant("h2-1", "h2", "y", ["db"]) == ""
    assert await store.get("cluster/resource-grants") == grants.holders  # kept durably
