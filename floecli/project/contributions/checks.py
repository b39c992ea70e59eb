"""The refusals before vendor/ changes: a contribution that clashes with one installed, and
uninstalling a node type a flow still uses."""

from __future__ import annotations

from ..errors import InstallError
from ..layout import EngineProject
from ..lockfile import Lock, LockedContribution
from .staging import Staging


def check_clash(name: str, type_: str, package: str, stage: Staging | None,
                lock: Lock) -> None:
    """No two contributions share a package directory, or a name within a type."""
    kind = type_.split(":", 1)[-1]
    for c in lock.contributions:
        if c.package == package:
            raise InstallError(f"vendor/{package} is already installed (from {c.ref})")
        if (c.name, c.type) == (name, type_):
            raise InstallError(f"a {kind} named {name} is already installed (from {c.ref})")
    if stage is not None and (stage.vendor / package).exists():
        raise InstallError(f"vendor/{package} already exists")


def refuse_used(project: EngineProject, chosen: dict[str, list[LockedContribution]]) -> None:
    """Refuse uninstalling a node type a flow of `project` still uses, naming its nodes."""
    users = project.type_users()
    for text, entries in chosen.items():
        for e in entries:
            flows: dict[str, list[str]] = {}
            for kind, node_type, flow, node in users:
                if (kind, node_type) == (e.kind, e.name):
                    flows.setdefault(flow, []).append(node)
            if flows:
                where = "; ".join(f"flow {f} (nodes {', '.join(n)})" for f, n in flows.items())
                raise InstallError(f"{e.kind} type {e.name} is still used by {where}; "
                                   "use --force to uninstall it anyway", target=text)
