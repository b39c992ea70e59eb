"""Where a host keeps its workspaces and run store when the app document leaves it to floe."""

from __future__ import annotations

from pathlib import Path

from .expand import expand_path

DEFAULT_ROOT = "~/.floe"  # common.workspace-root when the app document does not set it


def default_root(configured: str, host_name: str, project: str = "") -> str:
    """The root a host uses: the configured one, except that the default (`~/.floe`) is
    made per host name (and per engine project started inside one), so two hosts started
    in one directory, as the quick start does, have stores of their own. A root set on
    purpose is kept as is: sharing it is refused by the store's lock, with a hint.
    Raises ValueError when `~` cannot be expanded."""
    if (configured.rstrip("/") or configured) != DEFAULT_ROOT:
        return configured
    if project:
        return f"{DEFAULT_ROOT}/projects/{_safe(project)}/{_safe(host_name)}"
    legacy = Path(expand_path(DEFAULT_ROOT))
    mine = legacy / "hosts" / _safe(host_name)
    if host_name == "h1" and not mine.exists() and (legacy / "store" / "floe.db").is_file():
        return DEFAULT_ROOT  # the store of a floe before per-host roots: h1 keeps its runs
    return f"{DEFAULT_ROOT}/hosts/{_safe(host_name)}"


def _safe(name: str) -> str:
    """A host or project name as one path component."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".") or "_"
