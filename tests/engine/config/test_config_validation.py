"""Validation: every problem at once, each placed as `FILE:LINE: path: message`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from floecli.engine.config import ConfigError, TypeCatalog, check_app, load_app, parse_app

EXEC_OPTS = {
    "type": "object",
    "properties": {
        "cmd": {"type": "string"}, "shell": {"type": "string"},
        "args": {"type": "array", "items": {"type": "string"}},
    },
    "anyOf": [{"required": ["cmd"]}, {"required": ["shell"]}],
    "additionalProperties": False,
}
FORM_OPTS = {
    "type": "object",
    "properties": {"form": {"type": "object", "properties": {
        "title": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "object", "required": ["id"]}}}}},
}
TYPES = TypeCatalog(
    tasks={"exec": EXEC_OPTS, "end": {}, "data": FORM_OPTS},
    triggers={"data": FORM_OPTS, "timer": {"type": "object", "required": ["period"]}},
)


def problems(text: str, types: TypeCatalog | None = None, file: str = "app.yml") -> list[str]:
    _, found = check_app(textwrap.dedent(text), file, types)
    return [str(p) for p in found]


class TestIds:
    def test_node_id_with_line(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - name: ok
                    listen: trigger.good
                  - id: bad.id
                    listen: trigger.good
            """) == ["app.yml:6: flows[0].tasks[1].id: flow 0 - task 1 - a specified id can "
                     "not contain spaces or full stops"]

    def test_node_without_id_or_name(self) -> None:
        assert problems("""\
            flows:
              - id: f
                triggers:
                  - type: data
                tasks: [{name: a, listen: trigger.good}]
            """) == ["app.yml:4: flows[0].triggers[0]: flow 0 - trigger 0 - id and name can "
                     "not both be empty"]

    def test_duplicate_node_id_placed_at_the_second(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - name: build
                    listen: trigger.good
                  - id: build
                    listen: trigger.good
            """) == ["app.yml:6: flows[0].tasks[1].id: flow 0 - 2 nodes have id: build"]

    def test_duplicate_flow(self) -> None:
        assert problems("""\
            flows:
              - {id: f, ver: 1, tasks: [{name: a, listen: trigger.good}]}
              - {name: F, ver: 1, tasks: [{name: a, listen: trigger.good}]}
              - {id: f, ver: 2, tasks: [{name: a, listen: trigger.good}]}
            """) == ["app.yml:3: flows[1].name: flow 1 - flow f ver 1 is already defined by "
                     "flow 0"]


class TestTypes:
    def test_ver_not_an_integer(self) -> None:
        assert problems("flows:\n  - id: f\n    ver: abc\n    tasks: []\n") == [
            "app.yml:2: flows[0]: warning: the flow has no tasks",
            "app.yml:3: flows[0].ver: expected an integer, not 'abc'"]

    def test_scalar_types(self) -> None:
        assert problems("""\
            flows:
              - id: f
                ver: 1.5
                reuse-space: "yes please"
                host-tags: linux
                tasks:
                  - name: a
                    listen: [trigger.good]
                    wait: task.b.good
                    good: [0, one]
                    opts: [x]
            """) == [
            "app.yml:3: flows[0].ver: expected an integer, not 1.5",
            "app.yml:4: flows[0].reuse-space: expected true or false, not 'yes please'",
            "app.yml:5: flows[0].host-tags: expected a list of strings, not 'linux'",
            "app.yml:7: flows[0].tasks[0]: the task has no listen tag, so it can never run",
            "app.yml:8: flows[0].tasks[0].listen: expected a string, not a list",
            "app.yml:9: flows[0].tasks[0].wait: expected a list of strings, not 'task.b.good'",
            "app.yml:10: flows[0].tasks[0].good[1]: expected an integer, not 'one'",
            "app.yml:11: flows[0].tasks[0].opts: expected opts (a mapping), not a list",
        ]

    def test_scalars_read_as_written_into_strings(self) -> None:
        config = parse_app("version: 1.10\nname: 123\nflows:\n  - {id: f, ver: 2.0, tasks: "
                           "[{name: a, listen: trigger.good}], env: [A=1]}\n")
        assert (config.version, config.name, config.flows[0].ver) == ("1.10", "123", 2)

    def test_structure(self) -> None:
        assert problems("- a\n- b\n") == [
            "app.yml:1: expected an app document (a mapping), not a list"]
        assert problems("flows: {id: f}\ncommon: [x]\n") == [
            "app.yml:1: flows: expected a list of flows, not a mapping",
            "app.yml:2: common: expected the common section (a mapping), not a list"]
        assert problems("flows:\n  - just a string\n") == [
            "app.yml:2: flows[0]: expected a flow (a mapping), not 'just a string'"]

    def test_empty_document_is_an_empty_app(self) -> None:
        config = parse_app("")
        assert config.flows == () and config.common.store_type == "local"
        assert config.type == "floe:app"


class TestNodes:
    def test_task_waits(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - name: a
                    listen: trigger.good
                    wait: [trigger.good]
            """) == ["app.yml:6: flows[0].tasks[0].wait: flow 0 - task 0 - task nodes can not "
                     "have waits"]

    def test_merge_listen(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - {name: a, listen: trigger.good}
                  - name: m
                    class: merge
                    listen: trigger.good
                    wait: [task.a.good]
            """) == ["app.yml:7: flows[0].tasks[1].listen: flow 0 - task 1 - merge nodes can "
                     "not have listen set"]

    def test_merge_empty_wait_and_type(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - {name: a, listen: trigger.good}
                  - name: m
                    class: merge
                    type: most
                  - name: n
                    class: merge
                    wait: []
            """) == [
            "app.yml:5: flows[0].tasks[1]: a merge node needs a wait list of tags",
            "app.yml:7: flows[0].tasks[1].type: merge type 'most' is not all or any",
            "app.yml:10: flows[0].tasks[2].wait: a merge node needs a wait list of tags",
        ]

    def test_ignore_fail_with_use_status(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - name: a
                    listen: trigger.good
                    ignore-fail: true
                    use-status: true
            """) == ["app.yml:7: flows[0].tasks[0].use-status: ignore-fail and use-status can "
                     "not both be set"]

    def test_task_without_listen_is_an_error(self) -> None:
        # It can never fire: a silently dead step (issue 22).
        config, found = check_app("flows:\n  - id: f\n    tasks:\n      - name: a\n", "app.yml")
        assert config is None
        assert [str(p) for p in found] == [
            "app.yml:4: flows[0].tasks[0]: the task has no listen tag, so it can never run"]

    def test_merge_without_wait_is_an_error(self) -> None:
        config, found = check_app("flows:\n  - id: f\n    tasks:\n      - {name: a, listen: "
                                  "trigger.good}\n      - {name: m, class: merge}\n", "app.yml")
        assert config is None
        assert [str(p) for p in found] == [
            "app.yml:5: flows[0].tasks[1]: a merge node needs a wait list of tags"]

    def test_listn_is_an_error_with_a_suggestion(self) -> None:
        config, found = check_app("flows:\n  - id: f\n    tasks:\n      - name: a\n"
                                  "        listn: trigger.good\n", "app.yml")
        assert config is None
        assert "app.yml:5: flows[0].tasks[0].listn: unknown key 'listn': did you mean " \
               "'listen'?" in [str(p) for p in found]

    def test_warnings_are_kept_with_the_config(self) -> None:
        config, found = check_app("flows:\n  - id: f\n    tasks:\n      - name: a\n"
                                  "        listen: task.nobody.good\n        colour: red\n",
                                  "app.yml")
        assert config is not None
        assert [str(p) for p in config.warnings] == [str(p) for p in found] == [
            "app.yml:5: flows[0].tasks[0].listen: warning: listen tag task.nobody.good names "
            "no node, so it is never published",
            "app.yml:6: flows[0].tasks[0].colour: warning: unknown key 'colour'"]

    def test_classes(self) -> None:
        assert problems("""\
            flows:
              - id: f
                triggers:
                  - {name: t, class: task, listen: trigger.good}
                tasks:
                  - {name: a, listen: trigger.good, class: job}
                  - {name: b, class: trigger}
            """) == [
            "app.yml:4: flows[0].triggers[0].class: warning: a task node in triggers never runs",
            "app.yml:6: flows[0].tasks[0].class: warning: unknown class 'job': only trigger, "
            "task and merge nodes ever run",
            "app.yml:7: flows[0].tasks[1].class: warning: a trigger node in tasks never fires",
        ]


class TestTags:
    def test_listen_names_no_node(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - {name: a, listen: trigger.good}
                  - name: b
                    listen: task.nope.good
                  - name: c
                    listen: merge.a.good
            """) == [
            "app.yml:6: flows[0].tasks[1].listen: warning: listen tag task.nope.good names no "
            "node, so it is never published",
            "app.yml:8: flows[0].tasks[2].listen: warning: listen tag merge.a.good names no node, "
            "so it is never published",
        ]

    def test_wait_names_no_node(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - {name: a, listen: trigger.good}
                  - name: m
                    class: merge
                    wait:
                      - task.a.good
                      - task.gone.good
            """) == ["app.yml:9: flows[0].tasks[1].wait[1]: warning: wait tag task.gone.good "
                     "names no node, so it is never published"]

    def test_tags_never_published_are_warnings(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - {name: a, listen: trigger.good, use-status: true}
                  - {name: b, listen: task.a.good}
                  - {name: c, listen: task.a.2}
                  - {name: m, class: merge, type: any, wait: [task.b.bad, task.c.error]}
                  - {name: d, listen: merge.m.bad}
                  - {name: e, listen: trigger.bad}
            """) == [
            "app.yml:5: flows[0].tasks[1].listen: warning: listen tag task.a.good is never "
            "published by task a",
            "app.yml:8: flows[0].tasks[4].listen: warning: listen tag merge.m.bad is never "
            "published: a merge only ends good",
            "app.yml:9: flows[0].tasks[5].listen: warning: listen tag trigger.bad is never "
            "published: use trigger.good, task.<id>.<result> or merge.<id>.good",
        ]


class TestContributionTypes:
    def test_unknown_task_type(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - name: a
                    listen: trigger.good
                    type: exce
                  - {name: b, listen: task.a.good}
            """, TYPES) == [
            "app.yml:6: flows[0].tasks[0].type: unknown task type 'exce' (known: data, end, "
            "exec)",
            "app.yml:7: flows[0].tasks[1]: the task has no type (known: data, end, exec)",
        ]

    def test_unknown_trigger_type_is_a_warning(self) -> None:
        config, found = check_app(textwrap.dedent("""\
            flows:
              - id: f
                triggers:
                  - name: push
                    type: git-push
                tasks: [{name: a, listen: trigger.good, type: end}]
            """), "app.yml", TYPES)
        assert config is not None
        assert [str(p) for p in found] == [
            "app.yml:5: flows[0].triggers[0].type: warning: unknown trigger type 'git-push' "
            "(known: data, timer); nothing will fire it"]

    def test_types_not_checked_without_catalog(self) -> None:
        assert problems("flows:\n  - id: f\n    tasks: [{name: a, listen: trigger.good, "
                        "type: whatever}]\n") == []

    def test_opts_schema(self) -> None:
        assert problems("""\
            flows:
              - id: f
                tasks:
                  - name: a
                    listen: trigger.good
                    type: exec
                    opts:
                      cmd: make
                  - name: b
                    listen: task.a.good
                    type: exec
                    opts:
                      cmd: make
                      args: x
            """, TYPES) == [
            "app.yml:14: flows[0].tasks[1].opts.args: 'x' is not of type 'array'"]

    def test_opts_keys_case_insensitive(self) -> None:
        assert problems("""\
            flows:
              - id: f
                triggers:
                  - name: start
                    type: data
                    opts:
                      Form:
                        Title: Start
                        Fields:
                          - Id: branch
                          - Prompt: no id
                tasks: [{name: a, listen: trigger.good, type: end}]
            """, TYPES) == [
            "app.yml:11: flows[0].triggers[0].opts.Form.Fields[1]: 'id' is a required property"]

    def test_opts_any_of_and_extra_keys(self) -> None:
        assert problems("""\
            flows:
              - id: f
                triggers:
                  - name: tick
                    type: timer
                tasks:
                  - name: a
                    listen: trigger.good
                    type: exec
                    opts:
                      comd: make
            """, TYPES) == [
            "app.yml:4: flows[0].triggers[0].opts: 'period' is a required property",
            "app.yml:10: flows[0].tasks[0].opts: Additional properties are not allowed ('comd' "
            "was unexpected)",
            "app.yml:10: flows[0].tasks[0].opts: needs one of: 'cmd' is a required property; or "
            "'shell' is a required property",
        ]


class TestCommon:
    def test_store_type(self) -> None:
        assert problems("common:\n  store-type: ec2\n") == [
            "app.yml:2: common.store-type: ec2 is not a supported store"]

    def test_defaults(self) -> None:
        common = parse_app("common:\n  store-type: memory\n").common
        assert (common.store_type, common.workspace_root, common.api_base) == (
            "memory", "~/.floe", "/build/api")
        assert parse_app("common: {store-type: ''}\n").common.store_type == "local"

    def test_paths_too_short(self) -> None:
        assert problems("common:\n  workspace-root: '~/'\n  store-root: /\n") == [
            "app.yml:2: common.workspace-root: path too short",
            "app.yml:3: common.store-root: path too short",
        ]

    def test_users(self) -> None:
        assert problems("""\
            common:
              users:
                - {name: ann, role: admin, password-hash: h1}
                - {name: bob, role: boss, password-hash: h2}
                - {role: viewer, password-hash: h3}
                - {name: ann, password-hash: h4}
                - {name: cy}
            """) == [
            "app.yml:4: common.users[1].role: role must be admin or viewer, not 'boss'",
            "app.yml:5: common.users[2]: a user needs a name",
            "app.yml:6: common.users[3].name: user ann is listed twice",
            "app.yml:7: common.users[4]: warning: user cy has no password-hash, so they can not "
            "log in",
        ]

    def test_users_model(self) -> None:
        common = parse_app("common:\n  users:\n    - {name: v, role: viewer, password-hash: x}\n"
                           "    - {name: a, password-hash: y}\n").common
        assert [(u.name, u.role, u.password_hash) for u in common.users] == [
            ("v", "viewer", "x"), ("a", "admin", "y")]


class TestUnknownKeys:
    def test_every_level(self) -> None:
        assert problems("""\
            colour: blue
            common:
              store-typ: memory
              users: [{name: a, password-hash: x, email: a@b}]
            flows:
              - id: f
                subs: []
                tasks:
                  - name: a
                    listen: trigger.good
                    Listen: trigger.good
            """) == [
            "app.yml:1: colour: warning: unknown key 'colour'",
            "app.yml:3: common.store-typ: unknown key 'store-typ': did you mean 'store-type'?",
            "app.yml:4: common.users[0].email: warning: unknown key 'email'",
            "app.yml:7: flows[0].subs: warning: unknown key 'subs'",
            "app.yml:11: flows[0].tasks[0].Listen: unknown key 'Listen': did you mean "
            "'listen'?",
        ]

    def test_flogo_metadata_is_known(self) -> None:
        config = parse_app("name: app\ntype: floe:app\nversion: 0.0.1\ndescription: d\n"
                           "imports: [exec, data]\n")
        assert (config.name, config.type, config.version, config.description, config.imports) == (
            "app", "floe:app", "0.0.1", "d", ("exec", "data"))


class TestAllAtOnce:
    TEXT = """\
        common:
          store-type: s3
        flows:
          - id: one two
            ver: x
            tasks:
              - {name: a, listen: task.zz.good}
              - {name: b, listen: trigger.good, wait: [task.a.good]}
          - id: other
            tasks:
              - {name: m, class: merge, wait: []}
              - {name: m, listen: trigger.good, ignore-fail: true, use-status: true}
        """

    def test_check_reports_everything(self) -> None:
        config, found = check_app(textwrap.dedent(self.TEXT), "app.yml")
        assert config is None
        assert [str(p) for p in found] == [
            "app.yml:2: common.store-type: s3 is not a supported store",
            "app.yml:4: flows[0].id: flow 0 - a specified id can not contain spaces or full stops",
            "app.yml:5: flows[0].ver: expected an integer, not 'x'",
            "app.yml:7: flows[0].tasks[0].listen: warning: listen tag task.zz.good names no node, "
            "so it is never published",
            "app.yml:8: flows[0].tasks[1].wait: flow 0 - task 1 - task nodes can not have waits",
            "app.yml:11: flows[1].tasks[0].wait: a merge node needs a wait list of tags",
            "app.yml:12: flows[1].tasks[1].use-status: ignore-fail and use-status can not both "
            "be set",
            "app.yml:12: flows[1].tasks[1].name: flow 1 - 2 nodes have id: m",
        ]

    def test_parse_raises_with_every_error(self) -> None:
        with pytest.raises(ConfigError) as e:
            parse_app(textwrap.dedent(self.TEXT), "app.yml")
        assert e.value.message == "app.yml: 7 errors in the app document"
        assert len(e.value.problems) == 8  # the dangling listen is a warning
        assert str(e.value).count("\n") == 6

    def test_warnings_do_not_fail(self) -> None:
        config = parse_app("flows:\n  - id: f\n    junk: 1\n"
                           "    tasks: [{name: a, listen: task.x.good}]\n")
        assert config.flows[0].id == "f"


class TestInputs:
    def test_yaml_syntax_error(self) -> None:
        config, found = check_app("flows:\n  - id: f\n   bad: [\n", "app.yml")
        assert config is None
        assert len(found) == 1 and found[0].line == 3
        with pytest.raises(ConfigError) as e:
            parse_app("flows:\n  - id: f\n   bad: [\n", "app.yml")
        assert e.value.problems == found

    def test_duplicate_key(self) -> None:
        assert problems("flows:\n  - id: f\n    id: g\n    tasks: [{name: a, listen: "
                        "trigger.good}]\n") == ["app.yml:3: flows[0].id: duplicate key 'id'"]

    def test_json_lines(self) -> None:
        doc = {"common": {"store-type": "memory"}, "flows": [
            {"id": "f", "ver": 1, "tasks": [
                {"name": "a", "listen": "trigger.good"},
                {"name": "b", "listen": "task.x.good"}]}]}
        text = json.dumps(doc, indent="\t")
        assert problems(text, file="app.json") == [
            "app.json:16: flows[0].tasks[1].listen: warning: listen tag task.x.good names no node, "
            "so it is never published"]

    def test_load_app(self, tmp_path: Path) -> None:
        path = tmp_path / "app.json"
        path.write_text(json.dumps({"flows": [{"id": "f", "tasks": [
            {"name": "a", "listen": "trigger.good"}]}]}))
        config = load_app(path)
        assert config.source == str(path) and config.flows[0].id == "f"

    def test_load_app_unreadable(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.yml"
        with pytest.raises(ConfigError) as e:
            load_app(missing)
        assert [str(p) for p in e.value.problems] == [
            f"{missing}: cannot read the app document: No such file or directory"]
        assert e.value.message == f"cannot read {missing}: No such file or directory"

    def test_flow_file_not_found_is_a_warning(self, tmp_path: Path) -> None:
        (tmp_path / "there.yml").write_text("id: x\n")
        text = "flows:\n  - {id: a, flow-file: there.yml}\n  - {id: b, flow-file: gone.yml}\n"
        assert problems(text, file=str(tmp_path / "app.yml")) == [
            f"{tmp_path / 'app.yml'}:3: flows[1].flow-file: warning: flow-file gone.yml not found"]

    def test_env_entries(self) -> None:
        assert problems("flows:\n  - id: f\n    env: [A=1, NOEQ]\n    tasks: [{name: a, "
                        "listen: trigger.good}]\n") == [
            "app.yml:3: flows[0].env[1]: warning: env entry 'NOEQ' is not KEY=value"]


@pytest.mark.parametrize(("value", "message"), [
    (".nan", "nan is not a finite number"),
    (".inf", "inf is not a finite number"),
    ("0", "0 is less than or equal to the minimum of 0"),
    ("-5", "-5 is less than or equal to the minimum of 0"),
])
def test_a_timeout_must_be_a_finite_positive_number(value: str, message: str) -> None:
    # NaN compares false with every bound: it passed `exclusiveMinimum` and never fired
    assert problems(f"""\
        flows:
          - id: f
            triggers: [{{id: s, type: data}}]
            tasks:
              - {{id: a, listen: trigger.good, type: exec, opts: {{cmd: x, timeout: {value}}}}}
        """, TYPES) == [f"app.yml:5: flows[0].tasks[0].opts.timeout: {message}"]
