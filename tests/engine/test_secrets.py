"""The secrets file's two forms and the masker (engine/secrets.py)."""

from __future__ import annotations

import json

import pytest

from floecli.engine.errors import ConfigError
from floecli.engine.secrets import Secrets, parse


def test_key_value_lines():
    assert parse("# c\n\nA=1=2\nexport B = 'x y'\nC=\"q\"\n") == {"A": "1=2", "B": "x y",
                                                                    "C": "q"}


def test_yaml_with_a_multi_line_value():
    assert parse("K: |\n  one\n  two\nN: 12345\n") == {"K": "one\ntwo\n", "N": "12345"}


@pytest.mark.parametrize("text", ["- a\n- b\n", "K: [1]\n", "1bad: x\n"])
def test_what_is_not_a_secrets_file(text):
    with pytest.raises(ConfigError):
        parse(text)


def test_mask_whole_lines_and_json_escaped_forms():
    s = Secrets.of({"K": 'line-one\nline"two', "T": "tok123"})
    assert s.mask("a tok123 b") == "a *** b"
    assert s.mask("x line-one y") == "x *** y"
    assert s.mask(json.dumps({"v": 'line"two'})) == '{"v": "***"}'
    assert s.mask(json.dumps('line-one\nline"two')) == '"***"'
    assert s.mask_bytes(b"tok123\n") == b"***\n"


def test_short_values_are_not_masked():
    assert Secrets.of({"A": "1"}).mask("1 2 3") == "1 2 3"


@pytest.mark.parametrize("text", [
    # a YAML file whose PEM lost its indentation on one line
    "TOKEN: tok-3f9a-deploy-7c21\nCERT: |\n  -----BEGIN KEY-----\n MIIBsecretline1AAAA\n",
    # KEY=value lines, one of them broken: read as YAML, which fails on it
    "TOKEN=tok-3f9a-deploy-7c21\nOTHER: \"MIIBsecretline1AAAA\n",
    # an undefined alias: YAML's problem names it
    "TOKEN: *MIIBsecretline1AAAA\n",
])
def test_a_broken_secrets_file_is_refused_without_quoting_it(text):
    with pytest.raises(ConfigError) as refused:
        parse(text, "/etc/floe/secrets.yml")
    message = str(refused.value)
    assert message.startswith("secrets file /etc/floe/secrets.yml: neither KEY=value lines "
                              "nor YAML: ")
    assert "(line " in message  # where, so it can be fixed
    assert "tok-3f9a" not in message and "MIIBsecret" not in message, message
    assert "secrets file" in refused.value.hint
