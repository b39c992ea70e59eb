"""The engine starts, runs a task and stops on a signal with every POSIX-only call it could
make taken away (`resource`, `fcntl`, `os.killpg`, `os.setsid`, `os.pidfd_open`,
`signal.SIGKILL`, `loop.add_signal_handler`, uvloop), as on Windows: a POSIX-only call in
the start-up path fails this test here, long before a Windows user finds it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

APP = """\
flows:
  - id: hello
    ver: 1
    triggers:
      - {id: start, name: Start, type: data}
    tasks:
      - {id: say, name: Say, listen: trigger.good, type: exec,
         opts: {cmd: "%s", args: ["-c", "print('hello from a task')"]}}
      - {id: done, name: Done, listen: task.say.good, type: end}
"""

# What the interpreter is left with: the calls Windows' Python does not have.
WITHOUT_POSIX = textwrap.dedent("""\
    import asyncio, os, signal, sys
    for name in ("resource", "fcntl", "termios", "pwd", "grp", "uvloop"):
        sys.modules[name] = None  # `import name` now raises ImportError
    for name in ("killpg", "setsid", "setpgid", "getpgid", "pidfd_open", "fork"):
        if hasattr(os, name):
            delattr(os, name)
    for name in ("SIGKILL", "SIGHUP", "SIGQUIT"):
        if hasattr(signal, name):
            delattr(signal, name)

    def no_signal_handlers(self, *args, **kwargs):
        raise NotImplementedError  # what Windows' proactor loop says

    asyncio.AbstractEventLoop.add_signal_handler = no_signal_handlers
    asyncio.BaseEventLoop.add_signal_handler = no_signal_handlers
    import asyncio.unix_events
    asyncio.unix_events._UnixSelectorEventLoop.add_signal_handler = no_signal_handlers
    from floecli.engine.main import main
    sys.exit(main(sys.argv[1:]))
    """)


def engine_without_posix(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WITHOUT_POSIX, *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_engine_runs_a_flow_without_posix_only_calls(tmp_path):
    (tmp_path / "app.yml").write_text(APP % sys.executable)
    proc = engine_without_posix("-conf=app.yml", f"-root={tmp_path / 'root'}",
                                "-event_loop=asyncio", "-start=hello", "-once", "-events",
                                "-pub_bind=127.0.0.1:0", cwd=tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "hello from a task" in out


def test_the_engine_stops_on_a_signal_without_add_signal_handler(tmp_path):
    (tmp_path / "app.yml").write_text(APP % sys.executable)
    # the default -event_loop=auto, as a binary starts: no uvloop, asyncio's loop
    proc = engine_without_posix("-conf=app.yml", f"-root={tmp_path / 'root'}", "-v",
                                "-pub_bind=127.0.0.1:0", cwd=tmp_path)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("floe listening on "):
            break
    assert seen and seen[-1].startswith("floe listening on "), "".join(seen)
    assert "event loop: asyncio" in "".join(seen)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(seen) + err


def test_a_task_is_stopped_without_process_group_calls(tmp_path):
    """A run stopped by its timeout still ends its task when os.killpg is missing."""
    app = APP.replace('''opts: {cmd: "%s", args: ["-c", "print('hello from a task')"]}''',
                      '''opts: {cmd: "%s", args: ["-c", "import time; time.sleep(600)"],
                            timeout: 1}''')
    (tmp_path / "app.yml").write_text(app % sys.executable)
    proc = engine_without_posix("-conf=app.yml", f"-root={tmp_path / 'root'}",
                                "-event_loop=asyncio", "-start=hello", "-once", "-events",
                                "-pub_bind=127.0.0.1:0", cwd=tmp_path)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    assert "timed out after 1 s: stopped" in out, err
    assert proc.returncode == 1, err  # the task timed out: the run is bad, and it ended
