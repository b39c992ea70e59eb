"""Loading YAML and JSON with the line of every key and list item."""

from __future__ import annotations

import pytest

from floecli.engine.config import ConfigError
from floecli.engine.config.yamlpos import Positions, format_path, load_text

YAML = """\
common:
  hosts: [a, b]
flows:
  - id: one
    ver: 2
    tasks:
      - name: first
        listen: trigger.good
      -
        name: second
        opts:
          Nested: {Key: 1}
"""


def test_plain_values_and_lines() -> None:
    loaded = load_text(YAML, "app.yml")
    assert loaded.problems == []
    assert loaded.data["flows"][0]["ver"] == 2
    assert isinstance(loaded.data["flows"][0]["ver"], int)
    assert loaded.data["flows"][0]["tasks"][1]["opts"] == {"Nested": {"Key": 1}}
    pos = loaded.positions
    assert pos.line_of(()) == 1
    assert pos.line_of(("common", "hosts")) == 2
    assert pos.line_of(("common", "hosts", 1)) == 2
    assert pos.line_of(("flows", 0)) == 4
    assert pos.line_of(("flows", 0, "tasks", 0, "listen")) == 8
    assert pos.line_of(("flows", 0, "tasks", 1)) == 10  # an item starts at its content
    assert pos.line_of(("flows", 0, "tasks", 1, "opts", "Nested", "Key")) == 12


def test_line_of_falls_back_to_ancestor() -> None:
    pos = load_text(YAML).positions
    assert pos.line_of(("flows", 0, "tasks", 0, "nope", 3)) == 7
    assert pos.line_of(("missing",)) == 1
    assert Positions().line_of(("x",)) == 0


def test_format_path() -> None:
    assert format_path(("flows", 0, "tasks", 2, "listen")) == "flows[0].tasks[2].listen"
    assert format_path((0, "a")) == "[0].a"
    assert format_path(()) == ""


def test_scalars() -> None:
    data = load_text(
        "a: 010\nb: 0x1f\nc: 1e5\nd: 1.5\ne: yes\nf: ~\ng: '12'\nh: 2018-07-23\ni: 1_000\n"
        "j: -3\n").data
    assert data == {"a": 8, "b": 31, "c": 100000.0, "d": 1.5, "e": True, "f": None, "g": "12",
                    "h": "2018-07-23", "i": 1000, "j": -3}


def test_raw_text_of_non_strings() -> None:
    pos = load_text("version: 1.10\nn: 7\ns: str\n").positions
    assert pos.raw_text(("version",)) == "1.10"
    assert pos.raw_text(("n",)) == "7"
    assert pos.raw_text(("s",)) is None


def test_keys_are_strings_as_written() -> None:
    assert load_text("opts: {1: a, true: b, x.y: c}\n").data == {
        "opts": {"1": "a", "true": "b", "x.y": "c"}}


def test_empty_document() -> None:
    loaded = load_text("# nothing\n")
    assert loaded.data is None
    assert loaded.positions.line_of(("a",)) == 1


def test_anchors_and_merge_keys() -> None:
    text = """\
base: &base
  type: exec
  good: [0]
tasks:
  - <<: *base
    name: a
    good: [1]
  - *base
"""
    loaded = load_text(text)
    assert loaded.problems == []
    assert loaded.data["tasks"] == [{"type": "exec", "good": [1], "name": "a"},
                                    {"type": "exec", "good": [0]}]
    assert loaded.positions.line_of(("tasks", 0, "good")) == 7


def test_recursive_alias_is_an_error() -> None:
    with pytest.raises(ConfigError) as e:
        load_text("a: &x [1, *x]\n", "app.yml")
    assert "refers to itself" in str(e.value)


def test_duplicate_keys() -> None:
    loaded = load_text("flows:\n  - id: a\n    ver: 1\n    ver: 2\n", "app.yml")
    assert [str(p) for p in loaded.problems] == ["app.yml:4: flows[0].ver: duplicate key 'ver'"]
    assert loaded.problems[0].severity == "error"
    assert loaded.data["flows"][0]["ver"] == 1


class TestSyntaxErrors:
    def test_yaml_error_line(self) -> None:
        text = "flows:\n  - id: a\n    ver: 1\n  stray: x\n"
        with pytest.raises(ConfigError) as e:
            load_text(text, "app.yml")
        [problem] = e.value.problems
        assert problem.file == "app.yml"
        assert problem.line == 4
        assert problem.message.startswith("invalid YAML: ")

    def test_mapping_values_error(self) -> None:
        with pytest.raises(ConfigError) as e:
            load_text("a: b: c\n", "app.yml")
        assert str(e.value) == (
            "app.yml:1: invalid YAML: mapping values are not allowed here")

    def test_tab_after_key_is_a_space(self) -> None:
        """The original's YAML reader takes `key:<TAB>value` and trailing tabs; lines stay."""
        loaded = load_text("flows:\n  - id:\tf\n    ver:\t2\t\n    name: \"a\tb\"\n",
                           "app.yml")
        assert loaded.data == {"flows": [{"id": "f", "ver": 2, "name": "a\tb"}]}
        assert loaded.positions.line_of(("flows", 0, "ver")) == 3

    def test_tab_indent_in_yaml(self) -> None:
        with pytest.raises(ConfigError) as e:
            load_text("a:\n\tb: 1\n", "app.yml")
        assert e.value.problems[0].line == 2

    def test_two_documents(self) -> None:
        with pytest.raises(ConfigError) as e:
            load_text("a: 1\n---\nb: 2\n", "app.yml")
        assert e.value.problems[0].line == 2


class TestJson:
    TEXT = (
        '{\n'
        '\t"common": {"store-type": "memory"},\n'
        '\t"flows": [\n'
        '\t\t{\n'
        '\t\t\t"id": "one",\t"ver": 1,\n'
        '\t\t\t"env": ["A=\\tb", "B=\\/c"],\n'
        '\t\t\t"big": 1E+3, "small": 2.5e-1\n'
        '\t\t}\n'
        '\t]\n'
        '}\n'
    )

    def test_tabs_and_lines(self) -> None:
        loaded = load_text(self.TEXT, "app.json")
        flow = loaded.data["flows"][0]
        assert flow["env"] == ["A=\tb", "B=/c"]
        assert flow["big"] == 1000.0 and flow["small"] == 0.25
        assert loaded.positions.line_of(("flows", 0, "ver")) == 5
        assert loaded.positions.line_of(("flows", 0, "env", 1)) == 6

    def test_compact_json(self) -> None:
        loaded = load_text('{"flows":[{"id":"a","ver":3,"tasks":[]}]}', "app.json")
        assert loaded.data == {"flows": [{"id": "a", "ver": 3, "tasks": []}]}

    def test_json_error_line(self) -> None:
        with pytest.raises(ConfigError) as e:
            load_text('{\n\t"flows": [\n\t\t{"id": "a",}\n\t]\n}\n', "app.json")
        [problem] = e.value.problems
        assert (problem.file, problem.line) == ("app.json", 3)
        assert problem.message.startswith("invalid JSON: ")

    def test_trailing_comma_is_not_json_even_though_yaml_reads_it(self) -> None:
        text = '{"flows": [\n  {"name": "a",}\n]}\n'
        with pytest.raises(ConfigError) as e:
            load_text(text, "app.json")
        assert [str(p) for p in e.value.problems] == [
            "app.json:2: invalid JSON: Expecting property name enclosed in double quotes"]
        assert load_text(text, "app.yml").data == {"flows": [{"name": "a"}]}

    def test_json_duplicate_key(self) -> None:
        loaded = load_text('{\n  "a": 1,\n  "a": 2\n}\n', "app.json")
        assert [str(p) for p in loaded.problems] == ["app.json:3: a: duplicate key 'a'"]
