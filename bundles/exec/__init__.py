"""The `exec` task: a command or bash script in the workspace (floe-reference §7.1)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar

from floecli.engine.nodes import BaseTask, PathOutside, TaskContext, get_opt, make_inside


class Exec(BaseTask):
    # What it does before its process (the command's path, its sub-dir made inside the
    # workspace, its log lines) may happen before its start is committed: see BaseTask.
    durable_at_spawn: ClassVar[bool] = True

    async def run(self, ctx: TaskContext) -> int:
        command, args = build_command(ctx.opts)
        if is_script(ctx.opts):
            # bash reads the script: its `$`, quotes and escapes are bash's own, over the
            # task's environment, so a pushed value stays one word of data (DECISIONS §2).
            args = [args[0], ctx.expand_script(args[1])]
        else:
            args = [ctx.expand(a) for a in args]
            command = find_command(ctx.expand_ws(command), ctx.env)
        sub_dir = str(get_opt(ctx.opts, "sub-dir", "") or "")
        try:
            # sub-dir chooses where the command runs: never outside the run's workspace, even
            # through a symlink an earlier task left in a reused workspace.
            cwd = make_inside(ctx.workspace, sub_dir, what="sub-dir")
        except PathOutside as e:
            ctx.log(f"refused: {e}")
            return 1
        ctx.log(f"in dir: {cwd}")
        ctx.log(" ".join([command, *args]))
        ctx.log("")
        status = await ctx.exec([command, *args], cwd=cwd)
        if status != 0:
            ctx.log("")
            ctx.log(f"exited with status: {status}")
        return status


def build_command(opts: Mapping[str, object]) -> tuple[str, list[str]]:
    """`cmd` runs directly, `shell` through `bash -c`; without `args` the string is split on
    single spaces (no quote handling), exactly as the reference does."""
    cmd = str(get_opt(opts, "cmd", "") or "")
    shell = str(get_opt(opts, "shell", "") or "")
    args = [str(a) for a in get_opt(opts, "args", None) or []]
    command = cmd or shell
    if not args:
        command, *args = command.split(" ")
    if not cmd:
        return "bash", ["-c", " ".join([command, *args])]
    return command, args


def is_script(opts: Mapping[str, object]) -> bool:
    """A `shell` script (no `cmd`): build_command made it `bash -c SCRIPT`."""
    return not get_opt(opts, "cmd", "")


def find_command(command: str, env: Mapping[str, str]) -> str:
    """Look a bare command up in the task env's PATH, when the task sets one."""
    path = env.get("PATH")
    if not path or "/" in command:
        return command
    for d in path.split(os.pathsep):
        candidate = os.path.join(d, command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return command
