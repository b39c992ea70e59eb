"""Host path expansion (floe-reference §1.9.1) and task value expansion (§1.9.2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from floecli.engine.config import (
    env_mapping,
    expand_path,
    expand_value,
    expand_ws,
    expand_ws_dot,
    merge_env,
)

WS = "/base/path"


class TestExpandPath:
    def test_home(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HOME", "/home/tester")
        assert expand_path("~/test") == "/home/tester/test"

    @pytest.mark.parametrize("path", ["/test/~", "test/foo", "/a/b"])
    def test_unchanged(self, path: str) -> None:
        assert expand_path(path) == path

    @pytest.mark.parametrize(("path", "want"), [
        ("/a//b/", "/a/b"), ("./a/./b", "a/b"), ("//a", "/a"), ("a/../bc", "bc")])
    def test_cleaned(self, path: str, want: str) -> None:
        assert expand_path(path) == want

    @pytest.mark.parametrize("path", ["~", "~/", "/", "", "."])
    def test_too_short(self, path: str) -> None:
        with pytest.raises(ValueError, match=r"^path too short$"):
            expand_path(path)

    def test_home_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("HOME", raising=False)
        with pytest.raises(ValueError, match=r"^~ not expanded as HOME env var not set$"):
            expand_path("~/x")

    def test_tmp_is_fresh_each_call(self) -> None:
        first = Path(expand_path("%tmp/test/bar"))
        second = Path(expand_path("%tmp/test/bar"))
        try:
            for p in (first, second):
                assert p.parts[-2:] == ("test", "bar")
                tmp = p.parent.parent
                assert tmp.name.startswith("floe") and tmp.is_dir()
            assert first.parent.parent != second.parent.parent
        finally:
            for p in (first, second):
                p.parent.parent.rmdir()


class TestExpandEnvOpts:
    """The 7-row table of §1.9.2 (config/nodetype TestExpandEnvOpts)."""

    @pytest.mark.parametrize(("value", "want"), [
        ("OOF={{ws}}/oof", "OOF=/base/path/oof"),
        ("./go", "/base/path/go"),
        ("OOF=./oof", "OOF=/base/path/oof"),
        ("/go{{ws}}", "/go/base/path"),
        ("/go/{{ws}}", "/go/base/path"),
        ("./...", "./..."),
        ("./../", "/base/path/../"),
    ])
    def test_table(self, value: str, want: str) -> None:
        assert expand_value(value, WS, {}) == want


class TestExpandVerified:
    """The [verified] rows of §1.9.2, with the task env passed explicitly (DECISIONS §2)."""

    ENV = {"HOME": "/home/me", "FOO": "foo"}

    @pytest.mark.parametrize(("value", "want"), [
        (".", WS),
        ("a=.", f"a={WS}"),
        ("--opt=./foo", f"--opt={WS}/foo"),
        ("echo $HOME", "echo /home/me"),
        ("echo $HOME a=b", "echo $HOME a=b"),
        ("x=y=z ./q", "x=y=z ./q"),
        ("$NOPE/x", "/x"),
        ("echo ${FOO}bar", "echo foobar"),
        ("echo $FOO.txt", "echo foo.txt"),
        ("A=$FOO", "A=foo"),
        ("$FOO=x", "$FOO=x"),
        ("", ""),
        ("cost $", "cost $"),
        ("a $ b", "a $ b"),
    ])
    def test_rows(self, value: str, want: str) -> None:
        assert expand_value(value, WS, self.ENV) == want

    def test_env_is_the_given_mapping_not_the_process(self, monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
        monkeypatch.setenv("ONLY_IN_PROCESS", "p")
        assert expand_value("echo $ONLY_IN_PROCESS", WS, {}) == "echo "
        assert expand_value("echo $ONLY_IN_PROCESS", WS, os.environ) == "echo p"

    def test_ws_only(self) -> None:
        # The command gets expand-ws: `./` is not special there.
        assert expand_ws("./run {{ws}}/x $FOO", WS, {"FOO": "f"}) == "./run /base/path/x f"

    def test_ws_dot(self) -> None:
        assert expand_ws_dot("./a=b", WS, {}) == "/base/path/a=b"
        assert expand_ws_dot("", WS, {}) == ""


class TestEnv:
    def test_merge_env_appends(self) -> None:
        # hub TestMergeEnvOpts: flow first, unexpanded.
        assert merge_env(["DOOF=oops"], ["OOF={{ws}}/oof"]) == ["DOOF=oops", "OOF={{ws}}/oof"]
        assert merge_env(["DOOF=oops"], []) == ["DOOF=oops"]
        assert merge_env((), ("A=1",)) == ["A=1"]

    def test_env_mapping(self) -> None:
        base = {"PATH": "/bin", "A": "0"}
        got = env_mapping(["A=1", "B=x=y", "NOEQ", "=bad", "A=2", "C="], base)
        assert got == {"PATH": "/bin", "A": "2", "B": "x=y", "C": ""}
        assert base == {"PATH": "/bin", "A": "0"}
