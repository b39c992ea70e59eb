"""The sample config of floe-reference §8.3 and the flow tests of §8.5, plus model look-ups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from floecli.engine.config import AppConfig, Flow, check_app, load_app, parse_app
from floecli.engine.events import FlowRef
from floecli.engine.flow import CLASS_MERGE, CLASS_TASK, CLASS_TRIGGER

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "sample.yml"


@pytest.fixture(scope="module")
def sample() -> AppConfig:
    return load_app(SAMPLE)


class TestYaml:
    def test_flow_fields(self, sample: AppConfig) -> None:
        flow = sample.flows[0]
        assert flow.ref == FlowRef("build-project", 1)
        assert flow.name == "build project"
        assert flow.reuse_space is True
        assert len(flow.host_tags) == 3
        assert flow.resource_tags == ("couchbase", "nic")
        assert sample.source == str(SAMPLE)

    def test_common(self, sample: AppConfig) -> None:
        assert sample.common.hosts == ("name-or.ip.of.other.host",)
        assert sample.common.workspace_root == "%tmp/floe"
        assert sample.common.store_type == "local"

    def test_find_by_trigger(self, sample: AppConfig) -> None:
        found = sample.flows_by_trigger("data", FlowRef(""))
        assert len(found) == 1
        flow, trigger = found[0]
        assert flow.ref == FlowRef("build-project", 1)
        assert trigger.id == "input"

    def test_match_tag(self, sample: AppConfig) -> None:
        flow = sample.flows[0]
        nodes = flow.match_tag("trigger.good")
        assert nodes[0].class_ == CLASS_TASK and nodes[0].id == "checkout"
        assert len(flow.match_tag("task.build.good")) == 1
        assert [n.id for n in flow.match_tag("task.checkout.good")] == ["build", "build-osx"]

    def test_nodes(self, sample: AppConfig) -> None:
        flow = sample.flows[0]
        assert [n.id for n in flow.tasks] == [
            "checkout", "build", "build-osx", "builds", "test", "complete"]
        builds = flow.node("builds")
        assert builds is not None and builds.class_ == CLASS_MERGE and builds.type == "all"
        assert builds.wait == ("task.build.good", "task.build-osx.good")
        complete = flow.node("complete")
        assert complete is not None and complete.name == "Complete"
        assert flow.node("checkout").good == (0,)  # type: ignore[union-attr]

    def test_second_flow_and_warnings(self) -> None:
        config, problems = check_app(SAMPLE.read_text(), "sample.yml")
        assert config is not None
        assert config.flows[1].id == "build-merge"
        assert [str(p) for p in problems] == [
            "sample.yml:59: flows[1].subs: warning: unknown key 'subs'",
            "sample.yml:66: flows[1].tasks[0].listen: warning: listen tag sub.git-push.good is "
            "never published: use trigger.good, task.<id>.<result> or merge.<id>.good",
        ]


class TestYamlTrigger:
    def test_data_triggers(self, sample: AppConfig) -> None:
        triggers = sample.flows[0].triggers
        assert [t.type for t in triggers] == ["data", "data"]
        assert all(t.class_ == CLASS_TRIGGER for t in triggers)
        assert triggers[0].opts == {"url": "blah.blah"}
        assert "Title" in triggers[1].opts["Form"]

    def test_opts_json(self, sample: AppConfig) -> None:
        opts = sample.flows[0].triggers[1].to_json()["Opts"]
        assert json.dumps(opts, separators=(",", ":")) == (
            '{"Form":{"Fields":[{"Id":"branch","Prompt":"Branch","Type":"string"}],'
            '"Title":"Start"}}')

    def test_config_json(self, sample: AppConfig) -> None:
        doc = sample.to_json()
        flow = doc["Flows"][0]
        assert flow["ID"] == "build-project" and flow["Ver"] == 1
        assert flow["Env"] is None
        assert flow["Tasks"][3]["Wait"] == ["task.build.good", "task.build-osx.good"]
        assert flow["Tasks"][3]["Ref"] == {"Class": "merge", "ID": "builds"}
        assert doc["Flows"][1]["Triggers"] is None


ZERO_FLOW = """\
flows:
  - name: flow-1
    triggers:
      - name: Start
    tasks:
      - name: First Task
        listen: trigger.good
      - name: Merge Thing
        class: merge
        wait: [task.first-task.good]
"""


class TestZero:
    def test_zero(self) -> None:
        flow = parse_app(ZERO_FLOW).flows[0]
        assert (flow.id, flow.name) == ("flow-1", "flow-1")
        assert flow.triggers[0].id == "start"
        assert flow.triggers[0].class_ == CLASS_TRIGGER
        task, merge = flow.tasks
        assert (task.id, task.class_) == ("first-task", CLASS_TASK)
        assert (merge.id, merge.class_, merge.type) == ("merge-thing", CLASS_MERGE, "all")


class TestMatchTag:
    def test_match(self) -> None:
        flow = parse_app(ZERO_FLOW).flows[0]
        assert len(flow.match_tag("trigger.good")) == 1
        assert [n.id for n in flow.match_tag("task.first-task.good")] == ["merge-thing"]
        assert flow.match_tag("") == []
        assert flow.match_tag("task.nope.good") == []


VERSIONS = """\
flows:
  - {id: a, ver: 0, triggers: [{name: t, type: data}], tasks: [{name: x, listen: trigger.good}]}
  - {id: a, ver: 3, triggers: [{name: t, type: timer}, {name: u, type: data}],
     tasks: [{name: x, listen: trigger.good}]}
  - {id: a, ver: 2, triggers: [{name: t, type: data}, {name: v, type: data}],
     tasks: [{name: x, listen: trigger.good}]}
  - {id: b, triggers: [{name: t, type: data}], tasks: [{name: x, listen: trigger.good}]}
"""


class TestLookups:
    def test_latest_flow_is_highest_ver(self) -> None:
        config = parse_app(VERSIONS)
        latest = config.latest_flow("a")
        assert latest is not None and latest.ver == 3
        only_zero = config.latest_flow("b")
        assert only_zero is not None and only_zero.ver == 0  # ver 0 is found (DECISIONS §2)
        assert config.latest_flow("c") is None

    def test_flow_exact(self) -> None:
        config = parse_app(VERSIONS)
        assert config.flow(FlowRef("a", 2)).ver == 2  # type: ignore[union-attr]
        assert config.flow(FlowRef("a", 1)) is None

    def test_flows_by_trigger(self) -> None:
        config = parse_app(VERSIONS)
        found = config.flows_by_trigger("data", FlowRef(""))
        assert [(f.id, f.ver, t.id) for f, t in found] == [
            ("a", 0, "t"), ("a", 3, "u"), ("a", 2, "t"), ("b", 0, "t")]
        # a flow id narrows; ver 0 in the ref means any ver
        assert [f.ver for f, _ in config.flows_by_trigger("data", FlowRef("a"))] == [0, 3, 2]
        assert [f.ver for f, _ in config.flows_by_trigger("data", FlowRef("a", 2))] == [2]
        # the trigger whose id is the event's source wins over the first
        [(_, trigger)] = config.flows_by_trigger("data", FlowRef("a", 2), "v")
        assert trigger.id == "v"
        assert [t.id for _, t in config.flows_by_trigger("timer", FlowRef(""))] == ["t"]
        assert config.flows_by_trigger("poll-git", FlowRef("")) == []

    def test_used_types(self, sample: AppConfig) -> None:
        assert sample.used_types() == {"data", "git-merge", "exec", "end", "git-checkout"}


def test_flow_is_frozen(sample: AppConfig) -> None:
    with pytest.raises(AttributeError):
        sample.flows[0].id = "x"  # type: ignore[misc]
    assert isinstance(sample.flows[0], Flow)


def test_sample_loads_against_the_built_in_node_types() -> None:
    """§8.3's sample uses git-merge and git-checkout: with the built-in bundles installed it
    loads unchanged, with warnings only (the inert git-push, `subs`, a dangling listen)."""
    from floecli.engine.contributions.registry import Registry

    config, problems = check_app(SAMPLE.read_text(), str(SAMPLE), Registry.discover().catalog())
    assert config is not None, [str(p) for p in problems]
    assert {p.severity for p in problems} <= {"warning"}
