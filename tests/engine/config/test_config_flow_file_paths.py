"""Local flow-files stay below the app document's directory unless the config opts in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from floecli.engine.config import ConfigError, load_flow_file, parse_app

BODY = "name: body\ntasks:\n  - {name: a, listen: trigger.good, type: exec, opts: {cmd: 'true'}}\n"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "secret.yml").write_text("hostname-secret-value\n")
    (tmp_path / "app" / "ok.yml").write_text(BODY)
    os.symlink(tmp_path / "secret.yml", tmp_path / "app" / "link.yml")
    return tmp_path / "app"


@pytest.mark.parametrize("ref", ["../secret.yml", "/etc/hostname", "link.yml",
                                 "sub/../../secret.yml"])
def test_outside_refs_are_refused_without_reading(layout: Path, ref: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_flow_file(ref, layout, layout / "cache")
    assert "is outside" in str(e.value) and "absolute-flow-files" in str(e.value)
    assert "hostname-secret-value" not in str(e.value)


def test_inside_and_opted_in(layout: Path) -> None:
    assert load_flow_file("ok.yml", layout, layout / "cache")["name"] == "body"
    assert load_flow_file(str(layout / "ok.yml"), layout, layout / "cache")["name"] == "body"
    with pytest.raises(ConfigError) as e:  # read, since allowed: its problems, not a refusal
        load_flow_file("../secret.yml", layout, layout / "cache", absolute_ok=True)
    assert "is outside" not in str(e.value)


def test_the_app_document_is_checked_when_loaded(layout: Path) -> None:
    text = "flows:\n  - id: p\n    flow-file: ../secret.yml\n"
    with pytest.raises(ConfigError) as e:
        parse_app(text, str(layout / "app.yml"))
    assert str(e.value).startswith(f"{layout / 'app.yml'}:3: flows[0].flow-file: flow-file "
                                   "'../secret.yml' is outside")
    config = parse_app("common: {absolute-flow-files: true}\n" + text, str(layout / "app.yml"))
    assert config.common.absolute_flow_files


@pytest.mark.parametrize("ref", ["file://{outside}", "{outside}", "file://{inside}", "ok.yml"])
def test_validate_and_the_engine_give_one_verdict(layout: Path, ref: str) -> None:
    ref = ref.format(outside=layout.parent / "secret.yml", inside=layout / "ok.yml")
    text = f"flows:\n  - id: p\n    flow-file: {ref}\n"
    try:
        parse_app(text, str(layout / "app.yml"))
        checked = "accepted"
    except ConfigError as e:
        checked = "refused" if "is outside" in str(e) else str(e)
    try:
        load_flow_file(ref, layout, layout / "cache")
        loaded = "accepted"
    except ConfigError as e:
        loaded = "refused" if "is outside" in str(e) else str(e)
    assert checked == loaded == ("refused" if "secret" in ref else "accepted")


@pytest.mark.script_launch_mode("subprocess")
@pytest.mark.parametrize("scheme", ["file://", ""])
def test_floe_validate_refuses_what_the_engine_refuses(script_runner, layout: Path,
                                                       scheme: str) -> None:
    # A flow-file that exists, outside the app document's directory: `floe validate` used to
    # warn it was not found and exit 0, while the engine refused it at every run.
    outside = layout.parent / "flow.yml"
    outside.write_text(BODY)
    ref = scheme + str(outside)
    app_doc = layout / "app.yml"
    app_doc.write_text(f"flows:\n  - id: p\n    flow-file: {ref}\n")
    r = script_runner.run(["floe", "validate", str(app_doc)])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"{app_doc}:3: flows[0].flow-file: flow-file '{outside}' is outside" in r.stderr
    assert "not found" not in r.stdout + r.stderr
    with pytest.raises(ConfigError, match="is outside"):
        load_flow_file(ref, layout, layout / "cache")
