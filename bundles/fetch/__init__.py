"""The `fetch` task: a URL downloaded once into the host cache, verified, linked into place
(floe-reference §7.2, fixed as DECISIONS §2 says)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from pathlib import Path

from floecli.engine.nodes import BaseTask, PathOutside, TaskContext, get_opt, inside
from floecli.engine.nodes.download import Checksum, DownloadError, fetch

BAD = 255


class Fetch(BaseTask):
    async def run(self, ctx: TaskContext) -> int:
        url = str(get_opt(ctx.opts, "url", "") or "")
        if not url:
            ctx.log("problem getting fetch url option")
            return BAD
        raw = str(get_opt(ctx.opts, "checksum", "") or "")
        checksum = None
        if not raw:
            ctx.log("(N.B. fetch without a checksum can not be trusted)")
        else:
            try:
                checksum = Checksum.parse(raw, str(get_opt(ctx.opts, "checksum-algo", "") or ""))
            except DownloadError as e:
                ctx.log(str(e))
                return BAD
        loop = asyncio.get_running_loop()
        cancel = threading.Event()

        def log(line: str) -> None:  # called from the download thread
            loop.call_soon_threadsafe(ctx.log, line)

        try:
            fetched = await asyncio.to_thread(fetch, url, ctx.cache_dir, checksum=checksum,
                                              log=log, cancel=cancel)
        except DownloadError as e:
            ctx.log(f"Download failed: {e}")
            return BAD
        except asyncio.CancelledError:
            cancel.set()
            raise
        try:
            dest = location(ctx, fetched.path.name)
            place(fetched.path, dest, ctx.workspace)
        except PathOutside as e:
            ctx.log(f"refused: {e}")
            return BAD
        except OSError as e:
            ctx.log(f"Download could not be placed at {dest}: {e.strerror or e}")
            return BAD
        ctx.log(f"Download linked to {dest}")
        outputs: dict[str, str] = {"url": url, "path": str(dest)}
        if checksum is not None:
            ctx.log(f"Checksum verified: {checksum.algo} {fetched.digest}")
            outputs.update({"checksum": fetched.digest, "checksum-algo": checksum.algo})
        ctx.output(**outputs)
        return 0


def location(ctx: TaskContext, name: str) -> Path:
    """Where the file goes: the workspace by default; a trailing `/` keeps the download's
    name; relative paths are relative to the workspace (the reference's were not). It
    resolves inside the workspace, symlinks included, or PathOutside says why not."""
    loc = str(get_opt(ctx.opts, "location", "") or "")
    if not loc:
        loc = name
    elif loc.endswith("/"):
        loc += name
    dest = inside(ctx.workspace, ctx.expand(loc), what="location")
    return inside(ctx.workspace, dest / name, what="location") if dest.is_dir() else dest


def place(cached: Path, dest: Path, workspace: Path) -> None:
    """A hard link to the cached file (cheap, and the next use re-verifies the cache), or a
    copy where linking is impossible (another file system, a platform without links). The
    place is checked again once its directory exists: a symlink swapped in meanwhile by
    another task still cannot take the file (or the unlink before it) out of the workspace."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest = inside(workspace, dest, what="location")
    dest.unlink(missing_ok=True)
    try:
        os.link(cached, dest)
    except OSError:
        shutil.copy2(cached, dest)
