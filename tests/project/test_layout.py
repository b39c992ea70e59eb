"""EngineProject, refs, the lock file and the packaged defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import floecli
from floecli.project.bundles import (
    BUNDLES_DIR,
    DEFAULT_APP,
    DEFAULT_BUNDLE,
    bundled_names,
    read_bundle,
)
from floecli.project.create import create_project, load_app_source
from floecli.project.errors import BuildError, InstallError, ProjectError
from floecli.project.layout import EngineProject
from floecli.project.lockfile import Lock, LockedContribution
from floecli.project.refs import BUNDLED, GIT, LOCAL, PIP, parse_ref

REPO = Path(__file__).resolve().parents[2]


def test_the_design_cards_files_are_the_repositorys_own():
    # one copy each, at the top level; the wheel maps them into the package
    assert DEFAULT_APP == REPO / "default-app.json"
    assert DEFAULT_BUNDLE == REPO / "default-bundle.json"
    assert BUNDLES_DIR == REPO / "bundles"


def test_default_bundle_lists_every_bundled_contribution():
    assert sorted(read_bundle(DEFAULT_BUNDLE)) == bundled_names() == [
        "data", "data_trigger", "end", "exec", "fetch", "git_checkout", "git_merge", "poll_git",
        "timer", "timer_trigger"]


def test_error_tree():
    assert issubclass(InstallError, ProjectError) and issubclass(BuildError, ProjectError)
    assert isinstance(ProjectError("x"), floecli.engine.errors.FloeError)
    assert {ProjectError.ref, InstallError.ref, BuildError.ref} == {
        "project-invalid", "install-failed", "build-failed"}


def test_open_names_what_is_missing(tmp_path):
    def message() -> str:
        with pytest.raises(ProjectError) as e:
            EngineProject.open(tmp_path)
        return str(e.value)

    assert message() == "not a floe engine project directory, missing app.json"
    (tmp_path / "app.json").write_text("{}")
    assert message() == "not a floe engine project directory, missing vendor/ directory"
    (tmp_path / "vendor").mkdir()
    assert message() == "not a floe engine project directory, missing floe.lock"


def test_created_project_api(tmp_path):
    created = create_project(tmp_path, "p", load_app_source(None), floecli.__version__)
    p = EngineProject.open(tmp_path / "p")
    assert created.project == p
    assert p.name == "p" and p.root == (tmp_path / "p").resolve()
    assert p.entry_file.is_file() and p.bin_dir.is_dir()
    assert p.engine_version() == floecli.__version__
    assert sorted((c.descriptor.kind, c.name) for c in p.contributions()) == [
        ("task", "data"), ("task", "end"), ("task", "exec"), ("task", "fetch"),
        ("task", "git-checkout"), ("task", "git-merge"), ("task", "timer"),
        ("trigger", "data"), ("trigger", "poll-git"), ("trigger", "timer")]
    assert p.used_types() == {("task", "exec"), ("task", "end"), ("trigger", "data")}


def test_lock_round_trip(tmp_path):
    lock = Lock("1.2.3", [LockedContribution("b", "n", "floe:task", "1", "pkg", "sha256:0",
                                             "pip", ("x==1",))])
    lock.write(tmp_path / "floe.lock")
    assert Lock.read(tmp_path / "floe.lock") == lock
    raw = json.loads((tmp_path / "floe.lock").read_text())
    assert raw["engine"] == {"name": "floecli-engine", "version": "1.2.3"}
    (tmp_path / "bad.lock").write_text('{"contributions": []}')
    with pytest.raises(ProjectError, match=r"bad\.lock is corrupt"):
        Lock.read(tmp_path / "bad.lock")


@pytest.mark.parametrize(("text", "kind", "url", "rev", "subdir"), [
    ("exec", BUNDLED, "", "", ""),
    ("data_trigger", BUNDLED, "", "", ""),
    ("requests", PIP, "", "", ""),
    ("requests==2.0", PIP, "", "", ""),
    ("git+https://host/x/y.git@v1", PIP, "", "", ""),
    ("https://host/x/y.git", GIT, "https://host/x/y.git", "", ""),
    ("https://host/x/y.git@v1.2#sub/dir", GIT, "https://host/x/y.git", "v1.2", "sub/dir"),
    ("https://host/x/y.git@feature/x", GIT, "https://host/x/y.git", "feature/x", ""),
    ("git@github.com:o/r.git@main", GIT, "git@github.com:o/r.git", "main", ""),
    ("ssh://git@host/o/r#c", GIT, "ssh://git@host/o/r", "", "c"),
    ("./here", LOCAL, "", "", ""),
    ("dist/x-1.0-py3-none-any.whl", PIP, "", "", ""),
])
def test_parse_ref(tmp_path, text, kind, url, rev, subdir):
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "x-1.0-py3-none-any.whl").write_bytes(b"")
    ref = parse_ref(text, tmp_path)
    assert (ref.kind, ref.url, ref.rev, ref.subdir) == (kind, url, rev, subdir)
    assert ref.text == text


def test_python_project_directory_goes_through_pip(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "pyproject.toml").write_text("")
    ref = parse_ref("proj", tmp_path)
    assert (ref.kind, ref.pip_spec) == (PIP, str(tmp_path / "proj"))
