"""A config written for the original Floe (floe-reference §8.2, §8.3) loads unchanged, and its
data-triggered flow runs through a real git-merge of two branches."""

from __future__ import annotations

import sys
from pathlib import Path

from gitrepo import Repo

from floecli.engine.config.loader import check_app
from floecli.engine.contributions.registry import Registry

sys.path.insert(0, str(Path(__file__).resolve().parent / "server"))
from servertest import launch, wait_until

# As the original's integration test and sample config write it: an unreachable host name
# without a scheme, a git-push trigger nothing fires, `exclude-refs`, a listen tag nobody
# publishes, an ignored `subs:` key and a tab after `key:`.
CONFIG = """\
common:
  hosts:
    - name-or.ip.of.other.host
  workspace-root: "%tmp/floe"
  store-type: memory

flows:
  - id: build-project
    ver: 1
    reuse-space: true
    resource-tags: [couchbase, nic]
    host-tags: [linux, go, couch]
    triggers:
      - name: push
        type: git-push
        opts:
          url: blah.blah
      - name: start
        type: data
        opts:
          form:
            title: Start
            fields:
              - id: from_hash
                prompt: From hash
                type: string
              - id: to_hash
                prompt: To hash
                type: string
      - name: nightly
        type: timer
        opts:
          period: 86400
      - name: poll
        type: poll-git
        opts:
          url: REPO
          exclude-refs: "poll.*"
          period: 3600
    tasks:
      - name: wait tests
        class: merge
        type: all
        wait: [task.test.good, task.test2.good]
      - name: checkout
        listen: trigger.good
        type: git-merge
        good: [0]
        opts:
          url:\tREPO
      - name: build
        listen: task.checkout.good
        type: exec
        opts:
          shell: "cat repo/README repo/feature.txt"
      - name: test
        listen: task.build.good
        type: exec
        opts:
          cmd: "echo test"
      - name: test2
        listen: task.build.good
        type: exec
        opts:
          cmd: "echo test2"
      - name: complete
        listen: merge.wait-tests.good
        type: end

  - name: build-merge
    ver: 1
    subs:
      - name: push
        type: git-push
        opts:
          url: blah.blah
    tasks:
      - name: checkout
        listen: sub.git-push.good
        type: git-checkout
"""


def config(repo: Repo) -> str:
    return CONFIG.replace("REPO", repo.url)


def make_repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path)
    repo.commit({"README": "readme\n"})
    repo.commit({"feature.txt": "feature\n"}, branch="feature")
    return repo


def test_loads_with_only_warnings(tmp_path):
    repo = make_repo(tmp_path)
    app, problems = check_app(config(repo), str(tmp_path / "config.yml"),
                              Registry.discover().catalog())
    assert app is not None, [str(p) for p in problems]
    assert [f.id for f in app.flows] == ["build-project", "build-merge"]
    assert {p.severity for p in problems} == {"warning"}
    text = "\n".join(str(p) for p in problems)
    assert "git-push" in text and "subs" in text and "sub.git-push.good" in text


async def test_data_triggered_flow_merges_two_branches(engine_factory, tmp_path):
    repo = make_repo(tmp_path)
    h = await engine_factory(config(repo), tags=("linux", "go", "couch"))
    end = await h.run_to_end("build-project",
                             {"from_hash": repo.head("feature"), "to_hash": "master"})
    run = end.run_ref.run_id
    assert end.good, h.lines(run, "checkout")
    assert end.source_node.id == "complete"
    assert h.lines(run, "build")[3:] == ["readme", "feature"]
    merged = next(e for e in h.events if e.tag == "task.checkout.good")
    assert merged.opts["to"] == "master" and merged.opts["from"] == repo.head("feature")
    # the timer and poll-git triggers are running, the inert git-push one is not
    assert ("build-project", "poll") in h.hub.trigger_contexts
    assert ("build-project", "push") not in h.hub.trigger_contexts


def test_engine_with_an_unresolvable_host_starts_and_serves(tmp_path):
    repo = make_repo(tmp_path)
    engine = launch(tmp_path, config(repo), "-tags=linux,go,couch")
    try:
        with engine.client() as client:
            r = client.get("/flows")
            assert r.status_code == 200
            assert len(r.json()["Payload"]["Flows"]) == 2
            status = wait_until(lambda: (r := client.get("/flows/build-project/triggers"))
                                .status_code == 200 and r.json()["Payload"]["Triggers"])
            assert [t["ID"] for t in status] == ["push", "start", "nightly", "poll"]
            # the unreachable peer is just offline: this host's own view still answers
            r = client.get("/flows/build-project")
            assert r.status_code == 200 and r.json()["Payload"]["Runs"]["Active"] == []
    finally:
        assert engine.stop() == 0
