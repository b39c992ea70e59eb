"""Arbitrary YAML and JSON into the app-document loader: a config or a ConfigError whose every
problem is placed (FILE:LINE), never another exception. FLOE_FUZZ_EXAMPLES runs longer."""

from __future__ import annotations

import json
import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floecli.engine.config import ConfigError, check_app

EXAMPLES = int(os.environ.get("FLOE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

KEYS = st.sampled_from(["common", "flows", "id", "ver", "name", "tasks", "triggers", "type",
                        "listen", "wait", "class", "opts", "users", "role", "password-hash",
                        "flow-file", "env", "good", "reuse-space", "host-tags", "store-type",
                        "workspace-root", "<<", "cmd", "form", "fields", "x"])
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(["trigger.good", "task.a.good", "exec",
                                                     "data", "merge", "a", "f", "", "~"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(KEYS | st.text(max_size=6), inner, max_size=5),
                      max_leaves=30)
TOKENS = st.sampled_from(["&a ", "*a", "<<: *a", "!!int ", "!!bool ", "!!float ", "!!str ",
                          "!!binary ", "!!timestamp ", "!!map ", "!!seq ", "- ", ": ", "[", "]",
                          "{", "}", ",", "\n", "  ", "\t", "#", "'", '"', "\\", "?", "|", ">",
                          "%YAML 1.1\n", "---\n", "...\n", "\x00", "\ud800", "99999999999",
                          "flows:", "tasks:", "id: ", "\ufeff", "9" * 4400])


def _check(text: str, file: str = "app.yml") -> None:
    try:
        config, problems = check_app(text, file)
    except ConfigError as e:  # check_app returns problems; raising is also placed
        problems, config = e.problems, None
    for p in problems:
        assert p.file == file, p
        if p.severity == "error":
            assert p.line >= 1, p
    assert (config is None) == any(p.severity == "error" for p in problems)


@FUZZ
@given(VALUES, st.sampled_from(["app.yml", "app.json"]), st.booleans())
def test_any_document(value, file, flow_style):
    text = (json.dumps(value) if file.endswith(".json") else
            yaml.safe_dump({"flows": [value]} if flow_style else value,
                           default_flow_style=flow_style))
    _check(text, file)


@FUZZ
@given(VALUES, st.lists(st.tuples(st.integers(0, 10_000), TOKENS), max_size=6))
def test_any_mutated_document(value, edits):
    text = yaml.safe_dump({"flows": [value]})
    for at, token in edits:
        at %= len(text) + 1
        text = text[:at] + token + text[at:]
    _check(text, "app.yml")


@FUZZ
@given(st.text(max_size=200))
def test_any_text(text):
    _check(text, "app.yml")


def test_found_by_fuzzing():
    _check("flows:\n  - {id: f, flow-file: " + "9" * 5000 + "}\n")  # ENAMETOOLONG
    _check('flows:\n  - {id: f, flow-file: "a\\0b"}\n')
    _check('flows:\n  - {id: "\\U99999999"}\n')  # PyYAML: OverflowError from chr()
    _check('flows:\n  - {id: "\\U00110000"}\n')
    _check("flows:\n  - {id: f, ver: !!float ''}\n")  # PyYAML: IndexError
    _check("flows:\n  - {id: f, ver: !!int ''}\n")
    _check("flows:\n  - {id: f, ver: !!bool ''}\n")
