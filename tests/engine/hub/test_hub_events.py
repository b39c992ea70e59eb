"""The hub scenarios of floe-reference §8.10, with real subprocesses."""

from __future__ import annotations

HUB_EVENTS_APP = """
common:
  base-url: /build/api
  store-type: memory
flows:
  - id: build-project
    ver: 1
    triggers:
      - name: form
        type: data
        opts:
          url: git@blah.blah
    tasks:
      - name: checkout
        listen: trigger.good
        type: exec
        good: [0]
        opts:
          cmd: "echo cloning git@github.com:floeit/floe-test.git"
      - name: build
        listen: task.checkout.good
        type: exec
        opts:
          cmd: "ls /"
      - name: test1
        listen: task.build.good
        type: exec
        opts:
          cmd: "echo test1"
      - name: test2
        listen: task.build.good
        type: exec
        opts:
          cmd: "echo test2"
      - name: merge-tests
        class: merge
        type: all
        wait: [task.test1.good, task.test2.good]
      - name: complete
        listen: merge.merge-tests.good
        type: end
"""


async def test_hub_events(engine_factory):
    h = await engine_factory(HUB_EVENTS_APP)
    end = await h.run_to_end("build-project", {"branch": "blah.blah"})
    run = end.run_ref.run_id
    assert run == "h1-1"
    assert end.good is True
    assert end.source_node.id == "complete"
    assert h.count("inbound.data") == 1
    assert h.count("sys.state", run) == 3
    for tag in ("trigger.good", "task.checkout.good", "task.build.good", "task.test1.good",
                "task.test2.good", "merge.merge-tests.good", "sys.end.all"):
        assert h.count(tag, run) == 1, tag
    assert h.count("sys.node.update", run) >= 18
    # the reference's observed order for a local run (§3.5)
    order = [(e.tag, e.opts.get("action")) for e in h.events[:5]]
    assert order == [("inbound.data", None), ("sys.state", "add-pend"),
                     ("sys.state", "activate"), ("trigger.good", None),
                     ("sys.state", "remove-pend")]
    ids = [e.id for e in h.events]
    assert ids == sorted(ids) and ids[0] == 1
    # trigger.good carries the trigger's opts overlaid by the pushed values
    tg = next(e for e in h.events if e.tag == "trigger.good")
    assert tg.opts == {"url": "git@blah.blah", "branch": "blah.blah"}
    assert tg.run_ref.exec_host == "h1"
    # the end node is recorded as reached, with the result it ended the run on
    record = await h.hub.find_run("build-project", run)
    assert record.exec_nodes["complete"].good and record.exec_nodes["complete"].stopped


HUB_DATA_APP = """
flows:
  - id: build-project
    ver: 1
    triggers:
      - name: form
        type: data
    tasks:
      - name: build
        listen: trigger.good
        type: exec
        opts:
          cmd: "ls"
      - name: Sign Off
        listen: task.build.good
        type: data
        opts:
          form:
            title: Sign off
            fields:
              - id: tests_passed
                prompt: Did the tests pass?
                type: bool
              - id: to_hash
                prompt: To hash
                type: string
      - name: test1
        listen: task.sign-off.good
        type: exec
        opts:
          cmd: "echo test"
      - name: complete
        listen: task.test1.good
        type: end
"""


async def test_hub_data(engine_factory):
    h = await engine_factory(HUB_DATA_APP, host="h2")
    run = await h.start_run("build-project", {"url": "blah.blah"})
    assert run == "h2-1"
    req = await h.wait_tag("sys.data.required", run)
    assert req.source_node.id == "sign-off"
    assert [f["id"] for f in req.opts["form"]["fields"]] == ["tests_passed", "to_hash"]
    # the run waits: it is neither ended nor judged idle
    assert run in h.hub.active
    assert h.hub.active[run].record.data_nodes["sign-off"].enabled
    await h.hub.push_data(req.run_ref.flow_ref, run, "sign-off",
                    {"tests_passed": "true", "to_hash": "blhahaha"}, user="alice")
    end = await h.wait_tag("sys.end.all", run)
    assert end.good
    assert h.count("task.sign-off.good", run) == 1
    assert h.count("task.test1.good", run) == 1
    good = next(e for e in h.events if e.tag == "task.sign-off.good")
    assert good.opts["values"] == {"tests_passed": "true", "to_hash": "blhahaha"}
    record = await h.hub.find_run("build-project", run)
    data = record.data_nodes["sign-off"]
    assert not data.enabled
    assert data.submissions[0]["User"] == "alice"
    assert data.submissions[0]["Values"]["to_hash"] == "blhahaha"


async def test_partial_data_keeps_waiting(engine_factory):
    h = await engine_factory(HUB_DATA_APP)
    run = await h.start_run("build-project")
    req = await h.wait_tag("sys.data.required", run)
    await h.hub.push_data(req.run_ref.flow_ref, run, "sign-off", {"tests_passed": "true"})
    await h.wait_for(lambda e: e.tag == "sys.data.required" and e.opts["values"])
    assert run in h.hub.active
    await h.hub.stop_run("build-project", run)
