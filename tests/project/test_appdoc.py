"""Lossless app.json rewriting: only the edited value changes."""

from __future__ import annotations

import json

import pytest

from floecli.project.appdoc import AppDocument
from floecli.project.errors import ProjectError

TABS = '{\n\t"name": "a",\n\t"zzz-unknown": {"x": [1, 2]},\n\t"imports": [\n\t\t"exec"\n\t],' \
    '\n\t"flows": []\n}\n'


def test_edit_keeps_everything_else():
    doc = AppDocument(TABS)
    out = doc.with_imports(["exec", "timer"]).text
    assert out == TABS.replace('\t\t"exec"\n', '\t\t"exec",\n\t\t"timer"\n')
    assert list(json.loads(out)) == ["name", "zzz-unknown", "imports", "flows"]


def test_inline_list_stays_inline():
    text = '{\n    "name": "a",\n    "imports": ["exec"],\n    "x": 1\n}'
    out = AppDocument(text).with_imports(["exec", "end"]).text
    assert out == text.replace('["exec"]', '["exec", "end"]')


def test_empty_imports_render_compactly():
    text = '{\n  "imports": [\n    "exec"\n  ]\n}\n'
    assert AppDocument(text).with_imports([]).text == '{\n  "imports": []\n}\n'


def test_missing_imports_inserted_after_metadata():
    text = '{\n   "name": "a",\n   "version": "1",\n   "flows": [],\n   "custom": true\n}\n'
    out = AppDocument(text).with_imports(["exec"]).text
    assert out == ('{\n   "name": "a",\n   "version": "1",\n   "imports": [\n      "exec"\n'
                   '   ],\n   "flows": [],\n   "custom": true\n}\n')


def test_one_line_document_and_empty_object():
    assert AppDocument('{"name": "a"}').with_imports(["x"]).text == \
        '{"name": "a", "imports": ["x"]}'
    assert json.loads(AppDocument("{}").with_imports(["x"]).text) == {"imports": ["x"]}


def test_set_name_keeps_the_rest():
    text = '{"flows": [], "name": "old", "tail": "name"}'
    assert AppDocument(text).with_value("name", "new").text == \
        '{"flows": [], "name": "new", "tail": "name"}'


def test_strings_with_braces_and_escapes():
    text = '{"a": "}{\\"", "imports": ["e"], "b": {"imports": "nested"}}'
    out = AppDocument(text).with_imports(["e", "f"]).text
    assert json.loads(out) == {"a": '}{"', "imports": ["e", "f"], "b": {"imports": "nested"}}


def test_yaml_becomes_json_in_order():
    doc = AppDocument.from_json_or_yaml("name: y\nzeta: 1\nalpha: [a]\n", "app.yml")
    assert doc.text == '{\n  "name": "y",\n  "zeta": 1,\n  "alpha": [\n    "a"\n  ]\n}\n'


def test_invalid_documents():
    with pytest.raises(ProjectError, match=r"app.json:1: invalid JSON"):
        AppDocument("{")
    with pytest.raises(ProjectError, match="must be a JSON object"):
        AppDocument("[]")
    with pytest.raises(ProjectError, match=r"x.yml:2: neither JSON nor YAML"):
        AppDocument.from_json_or_yaml("a: b\n c: [\n", "x.yml")
