"""Load a flow's `flow-file` (local or web) and merge it into the configured flow (§1.8)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError, PathOutside, Problem
from ..paths import inside
from .build import build_flow
from .model import Flow, TypeCatalog
from .reader import ERROR, Reader
from .yamlpos import load_text

LOCAL = "local"
WEB = "web"
GIT = "git"

_GIT_PREFIXES = ("git://", "git+", "ssh://")
_DOWNLOAD_TIMEOUT = 30.0


def flow_file_kind(ref: str) -> str:
    """`git`, `web` or `local`, classified as the reference does (plus git:// and git+ URLs)."""
    if "git@" in ref or ref.startswith(_GIT_PREFIXES):
        return GIT
    if ref.startswith("http"):
        return WEB
    return LOCAL


def load_flow_file(ref: str, base_dir: Path, cache_dir: Path, *,
                   absolute_ok: bool = False) -> dict[str, Any]:
    """The flow mapping a `flow-file` reference holds, checked like a configured flow.

    A local path is relative to `base_dir` (the app document's directory) and must stay inside
    it unless `absolute_ok` (`common.absolute-flow-files`); a web file is downloaded into
    `cache_dir` first. Any failure raises ConfigError.
    """
    kind = flow_file_kind(ref)
    if kind == GIT:
        raise ConfigError("git flow-file references are not supported yet",
                          [Problem(ref, 0, "", "git flow-file references are not supported yet")])
    path = _download(ref, cache_dir) if kind == WEB else local_path(ref, base_dir, absolute_ok)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(f"cannot read flow-file {ref}: {detail}",
                          [Problem(str(path), 0, "", f"cannot read flow-file: {detail}")]) from None
    label = ref if kind == WEB else str(path)
    loaded = load_text(text, label)
    reader = Reader(label, loaded.positions)
    reader.problems.extend(loaded.problems)
    build_flow(loaded.data, (), 0, reader, None)
    _raise_on_errors(reader, f"invalid flow-file {ref}")
    return loaded.data


def local_path(ref: str, base_dir: Path, absolute_ok: bool = False) -> Path:
    """Where a local flow-file is; ConfigError if it leaves `base_dir` and that is not allowed
    (an error that names the path, never what the file holds)."""
    if absolute_ok:
        return base_dir / Path(ref).expanduser()
    try:
        return inside(base_dir, ref, what="flow-file")
    except PathOutside as e:
        detail = (f"{e}: local flow-files are relative to the app document's directory "
                  "(set common.absolute-flow-files: true to allow others)")
        raise ConfigError(f"cannot read flow-file {ref}: {detail}",
                          [Problem(ref, 0, "", detail)]) from None


def parse_flow(data: Mapping[str, Any], file: str = "<flow-file>",
               types: TypeCatalog | None = None) -> Flow:
    """A Flow from a plain flow mapping, or ConfigError listing its problems."""
    reader = Reader(file)
    flow = build_flow(dict(data), (), 0, reader, types)
    _raise_on_errors(reader, f"invalid flow in {file}")
    assert flow is not None  # a mapping always builds
    return flow


def merge_flow_file(flow: Flow, body: Flow | Mapping[str, Any]) -> Flow:
    """The configured flow with its flow-file body merged in by the §1.8 rules.

    `name`, tags, `env` and `tasks` come from the file when it has them; `reuse-space` always
    does (absent means false); `id`, `ver`, `triggers` and `flow-file` never do.
    """
    if not isinstance(body, Flow):
        body = parse_flow(body, flow.flow_file or "<flow-file>")
    return replace(
        flow, name=body.name or flow.name, reuse_space=body.reuse_space,
        host_tags=body.host_tags or flow.host_tags,
        resource_tags=body.resource_tags or flow.resource_tags,
        env=body.env or flow.env, tasks=body.tasks or flow.tasks,
    )


def _raise_on_errors(reader: Reader, message: str) -> None:
    errors = [p for p in reader.problems if p.severity == ERROR]
    if errors:
        raise ConfigError(message, errors)


def _download(url: str, cache_dir: Path) -> Path:
    import httpx  # only web flow-files need it

    def failed(detail: str) -> ConfigError:
        return ConfigError(f"could not download flow-file {url}: {detail}",
                           [Problem(url, 0, "", f"could not download flow-file: {detail}")])

    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=_DOWNLOAD_TIMEOUT) as r:
            if r.status_code >= 400:
                raise failed(f"{r.status_code} {httpx.codes.get_reason_phrase(r.status_code)}")
            cache_dir.mkdir(parents=True, exist_ok=True)
            target = cache_dir / _file_name(url, r.headers.get("content-disposition", ""))
            # Written aside then renamed: two runs adopting at once never read half a file.
            fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".download-")
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in r.iter_bytes():
                        out.write(chunk)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    except httpx.HTTPError as e:
        raise failed(str(e) or type(e).__name__) from None
    except OSError as e:
        raise failed(e.strerror or str(e)) from None
    return target


_DISPOSITION_NAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)


def _file_name(url: str, disposition: str) -> str:
    match = _DISPOSITION_NAME.search(disposition)
    name = unquote(match.group(1)) if match else unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    # Only the last segment: a server must not place files outside the cache.
    name = Path(name.replace("\\", "/")).name
    return name if name not in ("", ".", "..") else "flow-file"
