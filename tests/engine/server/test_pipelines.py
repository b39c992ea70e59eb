"""Pipelines behave as their authors mean (issue 22), through the real engine command line:
no silently dead step, `-once` as a usage error and as a report, a trigger's env in its runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flows import app, data_trigger, end, flow, task, trigger_node

from floecli.engine.config.loader import check_app

ROOT = Path(__file__).resolve().parents[3]


def engine(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "floecli.engine", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


LISTN = """\
common: {store-type: memory}
flows:
  - id: build
    triggers:
      - {name: start, type: data}
      - {name: push, type: git-push, opts: {url: blah.blah}}
    tasks:
      - name: lint
        type: exec
        listn: trigger.good
        opts: {shell: echo lint}
      - {name: done, type: end, listen: task.lint.good}
"""


def test_listn_is_refused_with_its_line_and_a_suggestion(tmp_path):
    conf = tmp_path / "app.yml"
    conf.write_text(LISTN)
    r = engine(f"-conf={conf}", "-start=build", "-once", f"-root={tmp_path}/r")
    assert r.returncode == 2, r.stderr
    assert f"{conf}:10: flows[0].tasks[0].listn: unknown key 'listn': did you mean 'listen'?" \
        in r.stderr
    assert f"{conf}:8: flows[0].tasks[0]: the task has no listen tag, so it can never run" \
        in r.stderr


INERT = app(flow("build", task("lint", shell="echo linted"),
                 task("never", shell="echo never", listen="sub.git-push.good"),
                 end(listen="task.lint.good"),
                 triggers=[data_trigger(), trigger_node("push", "git-push", url="blah.blah")],
                 ver=None), store_type="memory")


def test_an_inert_git_push_trigger_is_a_warning_printed_at_start(tmp_path):
    conf = tmp_path / "app.yml"
    conf.write_text(INERT)
    r = engine(f"-conf={conf}", "-start=build", "-once", f"-root={tmp_path}/r")
    assert r.returncode == 0, r.stderr
    assert "unknown trigger type 'git-push'" in r.stderr and "nothing will fire it" in r.stderr
    assert "listen tag sub.git-push.good is never published" in r.stderr
    assert "run h1-1 of flow build: good" in r.stderr


def test_the_originals_config_still_loads_with_warnings_only():
    # The original's sample config.yml. Its integration-test config is loaded and run through
    # a real engine in tests/engine/test_original_config.py, its flow-file body
    # build-project.yml in tests/engine/config/test_config_flow_file.py.
    path = ROOT / "tests" / "engine" / "config" / "data" / "sample.yml"
    config, problems = check_app(path.read_text(), str(path))
    assert config is not None, [str(p) for p in problems]
    assert problems and {p.severity for p in problems} == {"warning"}


def test_once_without_start_is_a_usage_error(tmp_path):
    r = engine("-once", f"-root={tmp_path}/r", cwd=tmp_path)
    assert r.returncode == 2
    assert "-once needs -start=FLOW" in r.stderr and "hint:" in r.stderr


FAILING = """\
common: {store-type: local}
flows:
  - id: rel
    triggers: [{name: start, type: data}]
    tasks:
      - {name: build, type: exec, listen: trigger.good, opts: {shell: "echo built"}}
      - name: test
        type: exec
        listen: task.build.good
        opts: {shell: 'printf "line %s\\n" 1 2 3 4 5; echo boom >&2; exit 3'}
      - {name: done, type: end, listen: task.test.good}
"""


def test_once_prints_the_result_the_failing_node_and_its_last_lines(tmp_path):
    conf = tmp_path / "app.yml"
    conf.write_text(FAILING)
    r = engine(f"-conf={conf}", "-start=rel", "-once", f"-root={tmp_path}/r")
    assert r.returncode == 1
    err = r.stderr
    assert "run h1-1 of flow rel: bad" in err
    assert "failed node: test (exit status 3)" in err
    assert "  line 5" in err and "  boom" in err


PARALLEL = """\
common: {store-type: local}
flows:
  - id: rel
    triggers: [{name: start, type: data}]
    tasks:
      - {name: slow, type: exec, listen: trigger.good, opts: {shell: "echo slow; sleep 30"}}
      - {name: test, type: exec, listen: trigger.good, opts: {shell: "echo broke; exit 4"}}
"""


def test_once_names_the_node_that_failed_not_one_killed_when_the_run_ended(tmp_path):
    conf = tmp_path / "app.yml"
    conf.write_text(PARALLEL)
    r = engine(f"-conf={conf}", "-start=rel", "-once", f"-root={tmp_path}/r")
    assert r.returncode == 1
    assert "run h1-1 of flow rel: bad (task.test.bad was not handled)" in r.stderr
    # `slow` was killed as the run ended, after `test` failed: it is not the failing node
    assert "failed node: test (exit status 4)" in r.stderr, r.stderr
    assert "  broke" in r.stderr


ENV2 = """\
common: {store-type: memory}
flows:
  - id: env2
    env: [A=flow, B=flow]
    triggers:
      - {name: start, type: data, opts: {env: [B=trigger, C=trigger]}}
    tasks:
      - name: show
        listen: trigger.good
        type: exec
        opts:
          env: [C=task, "PATH=/opt/tools/bin:$PATH", D=$A-$C]
          cmd: echo $A $B $C $D
      - {name: done, listen: task.show.good, type: end}
"""


def test_the_docs_env_example_is_true_with_start(tmp_path):
    conf = tmp_path / "app.yml"
    conf.write_text(ENV2)
    r = engine(f"-conf={conf}", "-start=env2", "-once", "-events", f"-root={tmp_path}/r")
    assert r.returncode == 0, r.stderr
    assert '"update": "flow trigger task flow-task"' in r.stdout


async def test_a_triggers_env_reaches_runs_started_by_pushed_data(engine_factory):
    h = await engine_factory(ENV2.replace("common: {store-type: memory}\n", ""))
    # a pushed `env` is data, never env (DECISIONS §2): it does not replace the trigger's
    end = await h.run_to_end("env2", {"env": ["B=pushed"], "who": "me"})
    assert end.good
    assert "flow trigger task flow-task" in h.lines(end.run_ref.run_id, "show")


def test_log_file_takes_the_engines_log(tmp_path):
    conf = tmp_path / "app.yml"
    conf.write_text(INERT)
    log = tmp_path / "floe.log"
    r = engine(f"-conf={conf}", "-start=build", "-once", f"-root={tmp_path}/r",
               f"-log_file={log}")
    assert r.returncode == 0, r.stderr
    text = log.read_text()
    assert "engine h1 started" in text and "never published" in text
    assert "engine h1 started" not in r.stderr
    assert "run h1-1 of flow build: good" in r.stderr  # -once's report is not a log line
