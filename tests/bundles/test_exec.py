"""The exec task (floe-reference §7.1, §8.7, §8.9) run by a real engine."""

from __future__ import annotations

import os
import re
import subprocess

import flows
import pytest
import yaml
from flows import flow, one_task, task

from floecli.bundles.exec import build_command


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ({"cmd": "foo bar"}, ("foo", ["bar"])),
        ({"shell": "foo bar"}, ("bash", ["-c", "foo bar"])),
        ({"cmd": "ls -l -a"}, ("ls", ["-l", "-a"])),
        ({"cmd": "ls -l", "args": ["x"]}, ("ls -l", ["x"])),
        ({"shell": "echo", "args": ["a b", "c"]}, ("bash", ["-c", "echo a b c"])),
        ({"Cmd": "echo hi"}, ("echo", ["hi"])),  # keys match case-insensitively
    ],
)
def test_cmd_and_args(opts, expected):
    assert build_command(opts) == expected


def app(opts: str) -> str:
    """Flow x of one exec task t, its opts given as an app author writes them in YAML."""
    return flows.app(one_task("x", task_id="t", opts=yaml.safe_load(opts)))


async def test_run_output_framing(engine_factory):
    h = await engine_factory(app('{cmd: "echo hello world"}'))
    end = await h.run_to_end("x")
    run = end.run_ref.run_id
    lines = h.lines(run, "t")
    ws = h.hub.workspace_root / "spaces" / "x" / "ws" / run
    assert lines == [f"in dir: {ws}", "echo hello world", "", "hello world"]
    # empty lines are published but not stored
    record = await h.hub.find_run("x", run)
    assert record.exec_nodes["t"].logs == [f"in dir: {ws}", "echo hello world", "hello world"]


async def test_long_output_every_line(engine_factory):
    h = await engine_factory(app('{shell: "seq 1 50 | sed s/^/line-/"}'))
    end = await h.run_to_end("x")
    lines = h.lines(end.run_ref.run_id, "t")
    assert lines[3:] == [f"line-{i}" for i in range(1, 51)]


async def test_env_vars_and_floews(engine_factory):
    h = await engine_factory(app('{shell: "export", env: [DAN=fart]}'))
    end = await h.run_to_end("x")
    out = "\n".join(h.lines(end.run_ref.run_id, "t"))
    assert 'DAN="fart"' in out
    assert 'FLOEWS="' in out


async def test_a_huge_line_is_cut_at_the_cap_and_the_rest_counted(engine_factory):
    # 200 KiB without a newline: its first 64 KiB are kept, the rest counted and noted
    h = await engine_factory(app(
        '{shell: "head -c 204800 /dev/zero | tr \'\\\\000\' x; echo; echo after"}'))
    end = await h.run_to_end("x")
    lines = h.lines(end.run_ref.run_id, "t")
    assert end.good
    assert lines[-3:] == ["x" * 65536,
                          f"[line cut at 65536 bytes: {204800 - 65536} more bytes not kept]",
                          "after"]


async def test_sub_dir_is_made_under_the_workspace(engine_factory):
    h = await engine_factory(app('{cmd: "pwd", sub-dir: "src/deep"}'))
    end = await h.run_to_end("x")
    run = end.run_ref.run_id
    ws = h.hub.workspace_root / "spaces" / "x" / "ws" / run
    assert h.lines(run, "t")[-1] == str(ws / "src" / "deep")


async def test_path_in_task_env_finds_the_command(engine_factory, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "floe-test-tool"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o755)
    opts = f'{{cmd: "floe-test-tool", env: ["PATH={bindir}:/usr/bin:/bin"]}}'
    h = await engine_factory(app(opts))
    end = await h.run_to_end("x")
    assert end.good
    assert h.lines(end.run_ref.run_id, "t")[-1] == "tool ran"


@pytest.mark.parametrize("sub_dir", ["../../..", "/tmp", "a/../../.."])
async def test_sub_dir_may_not_leave_the_workspace(engine_factory, sub_dir):
    h = await engine_factory(app(f'{{cmd: "pwd", sub-dir: "{sub_dir}"}}'))
    end = await h.run_to_end("x")
    assert not end.good
    assert h.lines(end.run_ref.run_id, "t")[-1].startswith(f"refused: sub-dir '{sub_dir}' is "
                                                            "outside ")


async def test_a_symlink_left_in_a_reused_workspace_is_not_followed_out(engine_factory,
                                                                         tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    h = await engine_factory(flows.app(flow(
        "x",
        task("plant", shell=f"test -e src || ln -s {outside} src"),
        task("t", "touch escaped", listen="task.plant.good", opts={"sub-dir": "src"}),
        reuse_space=True)))
    end = await h.run_to_end("x")
    assert not end.good
    assert list(outside.iterdir()) == []
    assert "is outside" in h.lines(end.run_ref.run_id, "t")[-1]


# ---- data never becomes code (DECISIONS §2 "Expansion") ---------------------------------

PAYLOAD = 'x"; touch {marker}; echo "'


async def test_a_pushed_value_in_a_shell_script_is_one_word_of_data(engine_factory, tmp_path):
    marker = tmp_path / "PWNED"
    h = await engine_factory(app('{shell: "echo building \\"$FLOE_IN_REF\\""}'))
    end = await h.run_to_end("x", {"ref": PAYLOAD.format(marker=marker)})
    assert end.good
    assert not marker.exists()
    lines = h.lines(end.run_ref.run_id, "t")
    assert lines[1] == 'bash -c echo building "$FLOE_IN_REF"'  # what bash got, unspliced
    assert lines[-1] == "building " + PAYLOAD.format(marker=marker)


async def test_a_pushed_value_in_sh_c_args_is_not_spliced_by_the_engine(engine_factory,
                                                                         tmp_path):
    marker = tmp_path / "PWNED"
    h = await engine_factory(app('{cmd: sh, args: [-c, "echo tool: $FLOE_IN_TOOL"]}'))
    end = await h.run_to_end("x", {"tool": f"x; touch {marker}"})
    assert end.good
    assert not marker.exists()
    assert h.lines(end.run_ref.run_id, "t")[-1] == f"tool: x; touch {marker}"


async def test_a_shell_script_reaches_bash_as_written(engine_factory, tmp_path):
    # awk's $2, a shell variable, $$, $? and quotes are bash's, not the engine's
    script = "printf 'a b\\\\n' > f; awk '{print $2}' f; y=5; echo $y; echo \\\"$HOME\\\"; " \
             "test $$ -gt 1 && echo pid; false; echo $?"
    h = await engine_factory(app(f'{{shell: "{script}"}}'))
    end = await h.run_to_end("x")
    assert end.good
    assert h.lines(end.run_ref.run_id, "t")[-5:] == ["b", "5", os.environ["HOME"], "pid", "1"]


async def test_the_issues_script_prints_what_bash_prints(engine_factory, tmp_path):
    # The script the issue quotes, as written in YAML, run by the engine and by bash itself:
    # the same lines, but for the pid `$$` names.
    script = "printf 'a b\\n' > f; awk '{print $2}' f; y=5; echo $y $$ $?"
    h = await engine_factory(app(yaml.safe_dump({"shell": script}, default_flow_style=True)))
    end = await h.run_to_end("x")
    assert end.good
    got = h.lines(end.run_ref.run_id, "t")[3:]
    bash = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          check=True)
    want = bash.stdout.splitlines()
    assert [re.sub(r"^5 \d+ 0$", "5 PID 0", line) for line in got] == [
        re.sub(r"^5 \d+ 0$", "5 PID 0", line) for line in want] == ["b", "5 PID 0"]


async def test_opts_expand_the_apps_env_only_and_dollar_dollar_is_a_dollar(engine_factory):
    h = await engine_factory(app(
        '{cmd: echo, args: ["$GREETING", "$$GREETING", "$FLOE_IN_REF", "${FLOE_IN_REF}"],'
        ' env: [GREETING=hello]}'))
    end = await h.run_to_end("x", {"ref": "main"})
    assert h.lines(end.run_ref.run_id, "t")[-1] == "hello $GREETING $FLOE_IN_REF ${FLOE_IN_REF}"


async def test_a_pushed_value_never_chooses_an_argument(engine_factory, tmp_path):
    marker = tmp_path / "PWNED"
    h = await engine_factory(app('{cmd: touch, args: ["$FLOE_IN_NAME"]}'))
    end = await h.run_to_end("x", {"name": str(marker)})
    assert end.good
    assert not marker.exists()
    ws = h.hub.workspace_root / "spaces" / "x" / "ws" / end.run_ref.run_id
    assert (ws / "$FLOE_IN_NAME").exists()  # the app's own text, as written
