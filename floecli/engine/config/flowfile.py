"""Load a flow's `flow-file` (local, web or git) and merge it into the configured flow (§1.8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError, DownloadError, GitError, PathOutside, Problem
from ..flow import Flow, TypeCatalog
from ..paths import inside
from .build import build_flow
from .reader import ERROR, Reader
from .yamlpos import load_text

LOCAL = "local"
WEB = "web"
GIT = "git"

_GIT_PREFIXES = ("git://", "git+", "ssh://")
_GIT_SCHEMES = ("http://", "https://", "file://")


def flow_file_kind(ref: str) -> str:
    """`git`, `web` or `local`, classified as the reference does, plus git:// and ssh:// URLs
    and http(s):// or file:// URLs naming a file inside a `.git` repository."""
    from ..git import split_repo_path

    if "git@" in ref or ref.startswith(_GIT_PREFIXES):
        return GIT
    if ref.startswith(_GIT_SCHEMES) and split_repo_path(ref) is not None:
        return GIT
    if ref.startswith("http"):
        return WEB
    return LOCAL


def flow_file_rev(ref: str, trigger_opts: Mapping[str, Any], polled: Mapping[str, Any]) -> str:
    """The revision a git flow-file is read at: the commit a poll-git trigger saw when it
    polls the flow-file's own repository, else the trigger's configured ref, branch or tag,
    else the repository's default branch ("")."""
    from ..git import split_repo_path

    if flow_file_kind(ref) != GIT:
        return ""
    located = split_repo_path(ref)
    if located is not None and polled.get("url") == located.url:
        for key in ("hash", "branch"):
            if isinstance(polled.get(key), str) and polled[key]:
                return str(polled[key])
    for key in ("ref", "branch", "tag"):
        value = _ci(trigger_opts, key)
        if isinstance(value, str) and value:
            return value
    return ""


def _ci(opts: Mapping[str, Any], key: str) -> Any:
    return next((v for k, v in opts.items() if str(k).lower() == key), None)


def load_flow_file(ref: str, base_dir: Path, cache_dir: Path, *, rev: str = "",
                   key_file: str = "", absolute_ok: bool = False) -> dict[str, Any]:
    """The flow mapping a `flow-file` reference holds, checked like a configured flow.

    A local path is relative to `base_dir` (the app document's directory) and must stay inside
    it unless `absolute_ok` (`common.absolute-flow-files`); a web file is
    downloaded through the host's download cache in `cache_dir`; a git file is read from the
    shallowest clone git allows at `rev`. Any failure raises ConfigError naming the file.
    """
    kind = flow_file_kind(ref)
    if kind == GIT:
        text, label = _read_git(ref, rev, key_file), ref + (f"@{rev}" if rev else "")
    else:
        path = (_download(ref, cache_dir) if kind == WEB
                else local_path(ref, base_dir, absolute_ok))
        label = ref if kind == WEB else str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ConfigError(f"cannot read flow-file {ref}: {detail}",
                              [Problem(str(path), 0, "", f"cannot read flow-file: {detail}")]
                              ) from None
    loaded = load_text(text, label)
    reader = Reader(label, loaded.positions)
    reader.problems.extend(loaded.problems)
    build_flow(loaded.data, (), 0, reader, None)
    _raise_on_errors(reader, f"invalid flow-file {ref}")
    return loaded.data


def local_path(ref: str, base_dir: Path, absolute_ok: bool = False) -> Path:
    """Where a local flow-file (a path or a file:// URL) is; ConfigError if it leaves
    `base_dir` and that is not allowed (an error that names the path, never what the file
    holds). `floe validate` and the engine both ask here, so they give one verdict."""
    local = unquote(urlsplit(ref).path) if ref.startswith("file://") else ref
    if absolute_ok:
        return base_dir / Path(local).expanduser()
    try:
        return inside(base_dir, local, what="flow-file")
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
    from ..download import fetch

    try:
        # fresh: a flow-file changes without changing its size, so the cache holds the
        # latest copy but is never trusted instead of the server.
        return fetch(url, cache_dir, fresh=True).path
    except DownloadError as e:
        raise ConfigError(f"could not download flow-file {url}: {e}",
                          [Problem(url, 0, "", f"could not download flow-file: {e}")]) from None


def _read_git(ref: str, rev: str, key_file: str) -> str:
    from ..git import read_file, split_repo_path

    located = split_repo_path(ref)
    if located is None:
        detail = "a git flow-file is <repository>.git/<path of the file>"
        raise ConfigError(f"unrecognised floe file type: {ref}: {detail}",
                          [Problem(ref, 0, "", detail)])
    try:
        return read_file(located.url, located.path, rev, key_file=key_file)
    except GitError as e:
        raise ConfigError(f"cannot read flow-file {ref}: {e}",
                          [Problem(ref, 0, "", f"cannot read flow-file: {e}")]) from None
