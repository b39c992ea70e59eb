"""`flow-file` loading, local and over HTTP, and the §1.8 merge rules."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from floecli.engine.config import ConfigError, Flow, load_flow_file, merge_flow_file, parse_app
from floecli.engine.config.flowfile import GIT, LOCAL, WEB, flow_file_kind
from floecli.engine.flow import Node

DATA = Path(__file__).parent / "data"
BODY = DATA / "build-project.yml"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving `tmp_path/www`."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "get-file.txt").write_text(BODY.read_text())
    (root / "bad.yml").write_text("tasks:\n  - {listen: trigger.good}\n")
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class TestGetURLType:
    @pytest.mark.parametrize(("ref", "kind"), [
        ("/foo/bar/fl.yaml", LOCAL),
        ("flows/fl.yaml", LOCAL),
        ("git@github.com:floeit/floe.git/build/FLOE.yaml", GIT),
        ("git+https://github.com/floeit/floe.git#FLOE.yaml", GIT),
        ("https://host/org/repo.git/ci/file.yml", GIT),
        ("file:///srv/git/repo.git/path/floe.yml", GIT),
        ("file:///srv/flows/floe.yml", LOCAL),
        ("http://example.com/fl.yaml", WEB),
        ("https://example.com/fl.yaml", WEB),
    ])
    def test_kind(self, ref: str, kind: str) -> None:
        assert flow_file_kind(ref) == kind


def _only_flow_file(ref: str) -> Flow:
    return Flow(id="", name="", flow_file=ref)


class TestLoad:
    def test_local(self, tmp_path: Path) -> None:
        path = tmp_path / "flow.yml"
        path.write_text(BODY.read_text())
        flow = merge_flow_file(_only_flow_file(str(path)),
                               load_flow_file(str(path), Path("/nowhere"), tmp_path / "cache",
                                              absolute_ok=True))
        assert len(flow.match_tag("merge.builds.good")) == 1
        assert flow.resource_tags == ("couchbase", "nic")

    def test_local_relative_to_base_dir(self, tmp_path: Path) -> None:
        (tmp_path / "flows").mkdir()
        (tmp_path / "flows" / "body.yml").write_text(BODY.read_text())
        body = load_flow_file("flows/body.yml", tmp_path, tmp_path / "cache")
        assert body["id"] == "build-project"

    def test_web(self, server: str, tmp_path: Path) -> None:
        cache = tmp_path / "cache"
        body = load_flow_file(f"{server}/get-file.txt", tmp_path, cache)
        flow = merge_flow_file(_only_flow_file(f"{server}/get-file.txt"), body)
        assert len(flow.match_tag("merge.builds.good")) == 1
        assert flow.resource_tags == ("couchbase", "nic")
        [cached] = cache.rglob("get-file.txt")  # in the host's download cache
        assert cached.read_text() == BODY.read_text()

    def test_web_not_found(self, server: str, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as e:
            load_flow_file(f"{server}/wont_be_found", tmp_path, tmp_path / "cache")
        assert "404 Not Found" in e.value.message

    def test_web_unreachable(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="could not download flow-file"):
            load_flow_file("http://127.0.0.1:1/x.yml", tmp_path, tmp_path / "cache")

    def test_web_invalid_body(self, server: str, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as e:
            load_flow_file(f"{server}/bad.yml", tmp_path, tmp_path / "cache")
        assert [str(p) for p in e.value.problems] == [
            f"{server}/bad.yml:1: flow 0 - id and name can not both be empty",
            f"{server}/bad.yml:2: tasks[0]: flow 0 - task 0 - id and name can not both be empty",
        ]

    def test_missing_local(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as e:
            load_flow_file("nope.yml", tmp_path, tmp_path / "cache")
        assert e.value.message == "cannot read flow-file nope.yml: No such file or directory"
        assert str(e.value) == (
            f"{tmp_path / 'nope.yml'}: cannot read flow-file: No such file or directory")

    def test_invalid_local_has_lines(self, tmp_path: Path) -> None:
        path = tmp_path / "f.yml"
        path.write_text("name: f\ntasks:\n  - name: a\n    class: merge\n    listen: x\n")
        with pytest.raises(ConfigError) as e:
            load_flow_file(str(path), tmp_path, tmp_path / "cache")
        assert [str(p) for p in e.value.problems] == [
            f"{path}:5: tasks[0].listen: flow 0 - task 0 - merge nodes can not have listen set",
            f"{path}:3: tasks[0]: a merge node needs a wait list of tags"]

    def test_dangling_listen_loads(self, tmp_path: Path) -> None:
        """The original's own floe.yml listens to a tag nobody publishes: a warning only."""
        path = tmp_path / "f.yml"
        path.write_text("name: f\ntasks:\n  - name: a\n    listen: task.b.good\n")
        body = load_flow_file(str(path), tmp_path, tmp_path / "cache")
        assert body["tasks"][0]["listen"] == "task.b.good"


def _task(name: str) -> Node:
    return Node(id=name, name=name, class_="task", listen="trigger.good")


CONFIGURED = Flow(
    id="conf", name="Configured", ver=4, flow_file="f.yml", reuse_space=True,
    host_tags=("h",), resource_tags=("r",), env=("A=1",),
    triggers=(Node(id="t", name="t", class_="trigger", type="data"),), tasks=(_task("c"),),
)


class TestMergeRules:
    def test_file_values_replace_when_set(self) -> None:
        body = Flow(id="other", name="From File", ver=9, flow_file="x", host_tags=("fh",),
                    resource_tags=("fr",), env=("B=2",),
                    triggers=(Node(id="ft", name="ft", class_="trigger"),), tasks=(_task("f"),))
        got = merge_flow_file(CONFIGURED, body)
        assert (got.id, got.ver, got.flow_file, got.triggers) == (
            "conf", 4, "f.yml", CONFIGURED.triggers)
        assert got.name == "From File"
        assert (got.host_tags, got.resource_tags, got.env) == (("fh",), ("fr",), ("B=2",))
        assert [t.id for t in got.tasks] == ["f"]
        assert got.reuse_space is False  # always taken from the file, absent means false

    def test_empty_file_values_keep_configured(self) -> None:
        got = merge_flow_file(CONFIGURED, {"id": "x", "reuse-space": True})
        assert got.name == "x"  # the file's name, derived from its id
        assert (got.host_tags, got.resource_tags, got.env) == (("h",), ("r",), ("A=1",))
        assert got.tasks == CONFIGURED.tasks
        assert got.reuse_space is True

    def test_mapping_body_is_checked(self) -> None:
        with pytest.raises(ConfigError) as e:
            merge_flow_file(CONFIGURED, {"tasks": [{"id": "a b"}]})
        assert [p.message for p in e.value.problems] == [
            "flow 0 - id and name can not both be empty",
            "flow 0 - task 0 - a specified id can not contain spaces or full stops",
            "the task has no listen tag, so it can never run",
        ]


def test_flow_with_flow_file_needs_no_tasks(tmp_path: Path) -> None:
    (tmp_path / "body.yml").write_text(BODY.read_text())
    app = tmp_path / "app.yml"
    text = "flows:\n  - id: p\n    flow-file: body.yml\n    triggers: [{name: go, type: data}]\n"
    config = parse_app(text, str(app))
    assert config.flows[0].tasks == ()
