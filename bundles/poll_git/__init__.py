"""The `poll-git` trigger: a run for each ref of a repository that is new or moved since the
last poll (floe-reference §3.8); failures are reported and retried, never fatal."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from floecli.engine.nodes import TriggerContext, get_opt
from floecli.engine.nodes.git import (
    DEFAULT_REFS,
    GitError,
    GitRef,
    changed_refs,
    ls_remote,
)

DEFAULT_PERIOD = 10.0
MAX_BACKOFF = 300.0  # a repository down for hours is still tried every five minutes
STATE_KEY = "refs"


class PollGit:
    async def watch(self, ctx: TriggerContext) -> None:
        url = str(get_opt(ctx.opts, "url", "") or "")
        if not url:
            ctx.report("poll-git needs opts.url: the trigger never fires")
            return
        pattern = str(get_opt(ctx.opts, "refs", "") or DEFAULT_REFS)
        # The sample configs of the reference write `exclude-refs`; its code reads `exclude`.
        exclude = str(get_opt(ctx.opts, "exclude", "") or get_opt(ctx.opts, "exclude-refs", "")
                      or "")
        try:
            re.compile(exclude)
        except re.error as e:
            ctx.report(f"exclude {exclude!r} is not a regular expression: {e}")
            return
        period = period_of(ctx.opts)
        key_file = str(get_opt(ctx.opts, "key-file", "") or ctx.git_key or "")
        failures = 0
        while True:
            try:
                refs = await asyncio.to_thread(ls_remote, url, pattern, exclude=exclude,
                                               key_file=key_file)
            except GitError as e:
                failures += 1
                ctx.report(f"git ls-remote {url} failed (attempt {failures}): {e}")
                await asyncio.sleep(min(period * 2 ** min(failures, 10), max(period,
                                                                                MAX_BACKOFF)))
                continue
            failures = 0
            await self._compare(ctx, url, refs)
            ctx.report("")
            await asyncio.sleep(period)

    async def _compare(self, ctx: TriggerContext, url: str, refs: Mapping[str, GitRef]) -> None:
        stored = await ctx.load(STATE_KEY)
        old = _hashes(stored, url)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        ctx.save(STATE_KEY, {"RepoURL": url, "Hashes": {
            ref: {"Name": r.name, "Type": r.type, "Hash": r.hash, "Change": now}
            for ref, r in refs.items()}})
        if old is None:  # the first poll of this URL only records a baseline
            return
        # Saved before firing: a restart may miss a run it was about to start, never start
        # one twice.
        for _, r in changed_refs(old, refs):
            ctx.fire({"url": url, "branch": r.name, "hash": r.hash, "ref-type": r.type})


def _hashes(stored: Any, url: str) -> dict[str, str] | None:
    if not isinstance(stored, Mapping) or stored.get("RepoURL") != url:
        return None
    hashes = stored.get("Hashes")
    if not isinstance(hashes, Mapping):
        return None
    return {ref: str(v.get("Hash", "")) for ref, v in hashes.items() if isinstance(v, Mapping)}


def period_of(opts: Mapping[str, Any]) -> float:
    value = get_opt(opts, "period", None)
    try:
        period = float(value) if value is not None and not isinstance(value, bool) else 0.0
    except (TypeError, ValueError):
        period = 0.0
    return period if period > 0 else DEFAULT_PERIOD
