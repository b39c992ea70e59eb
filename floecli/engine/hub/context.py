"""The TaskContext the hub gives one execution of a task node."""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config.expand import expand_script, expand_value, expand_ws
from .process import LineSink, Pace, ProcessGroup, child_env, no_pace


class RunTaskContext:
    def __init__(
        self,
        *,
        node_id: str,
        opts: Mapping[str, Any],
        input: Mapping[str, Any],
        workspace: Path,
        env: Mapping[str, str],
        sink: LineSink,
        app_env: Mapping[str, str] | None = None,
        group: ProcessGroup,
        pace: Pace | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.node_id = node_id
        self.opts = opts
        self.input = input
        self.workspace = workspace
        self.env = env
        self.cache_dir = cache_dir or workspace.parent / "fetch-cache"
        self.outputs: dict[str, Any] = {}
        self._sink = sink
        self._group = group
        self._pace = pace or no_pace
        # `$VAR` in an opt looks in the app's own env (flow and task `env`, FLOEWS), then the
        # engine's: never in pushed values, which are only in `env` (DECISIONS §2). A view,
        # not a copy (copying os.environ decodes every variable, at every task start).
        self._lookup: Mapping[str, str] = ChainMap(dict(env if app_env is None else app_env),
                                                   os.environ)

    def log(self, line: str) -> None:
        self._sink.line(line if isinstance(line, str) else str(line))

    def output(self, **opts: Any) -> None:
        self.outputs.update(opts)

    def expand(self, value: str) -> str:
        return expand_value(value, str(self.workspace), self._lookup)

    def expand_ws(self, value: str) -> str:
        return expand_ws(value, str(self.workspace), self._lookup)

    def expand_script(self, value: str) -> str:
        return expand_script(value, str(self.workspace))

    async def exec(self, argv: Sequence[str], *, cwd: Path | None = None,
                   env: Mapping[str, str] | None = None) -> int:
        return await self._group.run(argv, cwd=cwd or self.workspace,
                                     env=child_env({**self.env, **env} if env else self.env),
                                     sink=self._sink, pace=self._pace)


def task_env(entries: Sequence[str], workspace: Path) -> dict[str, str]:
    """The task env as a mapping: each `K=V` expanded (§1.9.2), later entries win, FLOEWS
    last. `$VAR` in an entry sees the entries before it and then the engine's env."""
    env: dict[str, str] = {}
    ws = str(workspace)
    for entry in entries:
        expanded = expand_value(str(entry), ws, ChainMap(env, os.environ))
        key, sep, value = expanded.partition("=")
        if sep and key:
            env[key] = value
    env["FLOEWS"] = ws
    return env
