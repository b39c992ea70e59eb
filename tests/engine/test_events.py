"""Events, refs and tags (floe-reference §2, §8.8)."""

from __future__ import annotations

import pytest

from floecli.engine.events import (
    Event,
    EventQueue,
    FlowRef,
    HostedID,
    NodeRef,
    RunRef,
    is_system,
    status_tag,
)


def test_queue_numbers_events_from_one_and_prints_run_refs():
    q = EventQueue()
    seen: list[Event] = []
    q.subscribe(seen.append)
    ref = RunRef(FlowRef("f", 1), HostedID("h1", 12))
    q.publish(Event(ref, "task.a.good"))
    q.publish(Event(ref, "task.b.good"))
    assert [e.id for e in seen] == [1, 2]
    assert str(seen[0].run_ref.run) == "h1-12"
    assert seen[0].opts == {}


def test_a_failing_observer_does_not_starve_others():
    q = EventQueue()
    seen: list[Event] = []

    def broken(e: Event) -> None:
        raise RuntimeError("boom")

    q.subscribe(broken)
    q.subscribe(seen.append)
    q.publish(Event(RunRef(FlowRef("f")), "x"))
    assert len(seen) == 1


@pytest.mark.parametrize(("tag", "system"), [("", False), ("fo", False), ("system.foo", False),
                                             ("sys.bar", True)])
def test_is_system(tag, system):
    assert is_system(tag) is system


@pytest.mark.parametrize(
    ("status", "kw", "expected"),
    [
        (0, {}, ("task.b.good", True)),
        (1, {}, ("task.b.bad", False)),
        (1, {"good_statuses": (0, 1)}, ("task.b.good", True)),
        (0, {"good_statuses": (1,)}, ("task.b.bad", False)),
        (2, {"use_status": True}, ("task.b.2", False)),
        (0, {"use_status": True}, ("task.b.0", True)),
        (7, {"ignore_fail": True, "use_status": True}, ("task.b.good", True)),
    ],
)
def test_status_mapping(status, kw, expected):
    assert status_tag("b", status, **kw) == expected


def test_run_ids_parse_with_dashes_in_host_ids():
    assert HostedID.parse("h1-12") == HostedID("h1", 12)
    assert HostedID.parse("build-host-3") == HostedID("build-host", 3)
    assert HostedID.parse("h1") is None
    assert HostedID.parse("h1-x") is None
    assert str(HostedID("h1", 0)) == "na"


def test_event_json_is_the_reference_shape():
    e = Event(RunRef(FlowRef("demo", 1), HostedID("h1", 3), "h2"), "task.build.good",
              NodeRef("task", "build"), True, {"k": "v"}, 57)
    assert e.to_json() == {
        "RunRef": {"FlowRef": {"ID": "demo", "Ver": 1}, "Run": {"HostID": "h1", "ID": 3},
                   "ExecHost": "h2"},
        "SourceNode": {"Class": "task", "ID": "build"},
        "Tag": "task.build.good", "Good": True, "ID": 57, "Opts": {"k": "v"}}
    assert RunRef.from_json(e.to_json()["RunRef"]) == e.run_ref
