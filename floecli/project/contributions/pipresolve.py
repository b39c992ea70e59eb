"""The one pip resolution of a contribution command: the pip requirements of every installed
contribution and the command's pip refs, resolved together in one pip run with the engine
runtime's own pins as constraints, so two contributions that need different versions of a
dependency, or one that needs another version of an engine library, are a conflict reported
with both requirements, never a vendor/ holding only one of them. vendor/'s distributions
become exactly that set, less the engine's own libraries (the runtime provides them)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import dists
from ..bundles import DESCRIPTOR_FILE
from ..errors import InstallError
from ..fsutil import file_hashes, file_sha256, tree_hash
from ..isolation import check_dependencies, check_package_name, engine_names, engine_pins
from ..lockfile import Lock, LockedContribution, LockedDistribution
from ..pip import Echo, PipError, run_pip
from ..refs import PIP, Ref, is_path_ref
from .checks import check_clash
from .depgraph import DependencyGraph
from .staging import Staging

if TYPE_CHECKING:
    from floecli.engine.contributions.descriptor import Descriptor


@dataclass
class Pending:
    """A pip ref waiting for the resolution that tells which distribution it is."""

    ref: Ref
    spec: str


class PipResolver:
    """Resolves for one command. Requirements that are paths are recorded relative to `home`
    (where the project ends up); pip runs in `cwd` (the project) and `echo` (verbose) hears
    every line it prints; `parse` reads a ref back from the lock."""

    def __init__(self, *, home: Path, cwd: Path, echo: Echo | None,
                 parse: Callable[[str], Ref]) -> None:
        self.home = home
        self.cwd = cwd
        self.echo = echo
        self.parse = parse

    def resolve(self, stage: Staging, lock: Lock, pending: list[Pending], *,
                unpinned: set[str] | None = None) -> list[LockedContribution]:
        """Resolve every installed contribution's requirements and the pending pip refs in
        one pip run; vendor/'s distributions become exactly that set. What is installed keeps
        its versions when it can (except the `unpinned` ones being updated). The new entries
        of the pending refs are added to `lock` and returned."""
        roots: list[str] = []
        for e in lock.contributions:
            roots += [self._pip_arg(r) for r in e.requires]
        roots += [p.spec for p in pending]
        roots = list(dict.fromkeys(roots))
        keep = [d for d in lock.distributions if d.pin not in (unpinned or set())]
        try:
            try:
                target, items = self._pip_resolve(roots, stage, keep)
            except PipError:
                if not keep:
                    raise
                # the pins of what is installed cannot stay: let pip choose, or say why not
                target, items = self._pip_resolve(roots, stage, [])
        except PipError as e:
            e.message = _who_requested(e.message, self._requested_by(lock, pending))
            named = [p.ref.text for p in pending if p.ref.text in e.message]
            e.target = e.target or (named[0] if named else
                                    pending[0].ref.text if len(pending) == 1 else "")
            raise
        graph = DependencyGraph(items)
        # the engine runtime provides its own libraries (at the very versions the
        # constraints held them to): they never land in vendor/
        engine = engine_names()
        for key, dist in dists.installed(target).items():
            if key in engine:
                dists.remove_dist(dist, target)
        pip_entries = [e for e in lock.contributions if e.source == PIP]
        # the pip contributions' package directories are part of their distributions
        lock.contributions = [e for e in lock.contributions if e.source != PIP]
        for dist in dists.installed(stage.vendor).values():
            dists.remove_dist(dist, stage.vendor)
        in_target = dists.installed(target)
        for e in lock.contributions:
            if e.requires:
                names = [graph.root_name(r, self.home) for r in e.requires]
                idx = lock.contributions.index(e)
                lock.contributions[idx] = replace(e, distributions=graph.closure(names))
        new: list[LockedContribution] = []
        claims: list[tuple[Ref, str]] = [(self.parse(e.ref), e.ref)
                                         for e in {e.ref: e for e in pip_entries}.values()]
        claims += [(p.ref, p.ref.recorded) for p in pending]
        fresh = {p.ref.recorded for p in pending}
        for ref, recorded in claims:
            spec = self._pip_arg(ref.recorded) if ref.recorded not in fresh else ref.pip_spec
            name = graph.root_name(spec, self.home)
            dist = in_target.get(dists.normalize(name)) if name else None
            found = _contributions_in(dist, target)
            if not found:
                raise InstallError(f"{ref.text} is not a floe contribution: no package directory "
                                   f"with a valid {DESCRIPTOR_FILE}", target=ref.text)
            for top, d in found:
                check_clash(d.name, d.type, top, None, lock)
                check_package_name(top, f"{d.kind} {d.name}")
                entry = LockedContribution(
                    recorded, d.name, d.type, d.version, top, tree_hash(target / top), PIP,
                    graph.closure([name]), (recorded,), files=file_hashes(target / top))
                lock.contributions.append(entry)
                if recorded in fresh:
                    new.append(entry)
        _check_isolation(in_target, lock, fresh)
        for dist in in_target.values():
            dists.move_dist(dist, target, stage.vendor)
        lock.distributions = [
            LockedDistribution(d.name, d.version, file_sha256(d.info / "RECORD")
                               if (d.info / "RECORD").is_file() else "")
            for d in dists.installed(stage.vendor).values()]
        return new

    def _requested_by(self, lock: Lock, pending: list[Pending]) -> dict[str, list[str]]:
        """Each requirement handed to pip, as pip prints it, with the refs that need it."""
        found: dict[str, list[str]] = {}
        for e in lock.contributions:
            for r in e.requires:
                found.setdefault(self._pip_arg(r), []).append(e.ref)
        for p in pending:
            found.setdefault(p.spec, []).append(p.ref.text)
        return found

    def _pip_arg(self, requirement: str) -> str:
        """A recorded requirement as pip must see it: a project-relative path made absolute."""
        if is_path_ref(requirement):
            return os.path.normpath(self.home / requirement)
        return requirement

    def _pip_resolve(self, roots: list[str], stage: Staging,
                     keep: list[LockedDistribution]) -> tuple[Path, list[dict[str, Any]]]:
        target = stage.scratch("pip-")
        report = target.with_suffix(".json")
        args = ["install", "--target", str(target), "--report", str(report), "--no-compile",
                "--no-warn-script-location", *roots]
        # the engine runtime's pins hold for every contribution: one set of libraries
        pinned = target.with_suffix(".engine.txt")
        pinned.write_text("".join(f"{pin}\n" for pin in engine_pins()), encoding="utf-8")
        args += ["-c", str(pinned)]
        if keep:
            constraints = target.with_suffix(".constraints.txt")
            constraints.write_text("".join(f"{d.pin}\n" for d in keep), encoding="utf-8")
            args += ["-c", str(constraints)]
        try:
            run_pip(args, echo=self.echo, cwd=self.cwd)
        except PipError as e:
            e.message = _engine_conflict(e.message) or e.message
            raise
        raw = json.loads(report.read_text(encoding="utf-8"))
        items = [{"name": i["metadata"]["name"], "version": i["metadata"]["version"],
                  "requires": i["metadata"].get("requires_dist") or [],
                  "url": (i.get("download_info") or {}).get("url", ""),
                  "requested": bool(i.get("requested"))} for i in raw.get("install", [])]
        shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts
        return target, items


def drop_unneeded(vendor: Path, lock: Lock) -> None:
    """Remove the distributions no remaining contribution needs."""
    needed = {dists.normalize(p.split("==", 1)[0]) for c in lock.contributions
              for p in c.distributions}
    for key, dist in dists.installed(vendor).items():
        if key not in needed:
            dists.remove_dist(dist, vendor)
    lock.distributions = [d for d in lock.distributions if dists.normalize(d.name) in needed]


def _check_isolation(in_target: dict[str, dists.Dist], lock: Lock, fresh: set[str]) -> None:
    """No distribution about to move into vendor/ may ship a package named like a
    contribution's (other than its own) or an engine library."""
    owners: dict[str, str] = {}  # distribution key → the contribution package it is
    needed: dict[str, list[str]] = {}
    for e in lock.contributions:
        for pin in e.distributions:
            needed.setdefault(dists.normalize(pin.split("==", 1)[0]), []).append(e.ref)
        if e.source == PIP and e.distributions:
            for pin in e.distributions:
                dist = in_target.get(dists.normalize(pin.split("==", 1)[0]))
                if dist is not None and e.package in dist.top_levels():
                    owners[dists.normalize(dist.name)] = e.package
    for key, dist in in_target.items():
        packages = {e.package: f"the {e.kind} {e.name} (from {e.ref})"
                    for e in lock.contributions if owners.get(key) != e.package}
        refs = sorted(dict.fromkeys(needed.get(key, [])), key=lambda r: r not in fresh)
        check_dependencies([(dist.pin, dist.top_levels(), ", ".join(refs) or "?")],
                           packages)


def _contributions_in(dist: dists.Dist | None, target: Path) -> list[tuple[str, Descriptor]]:
    from floecli.engine.contributions.descriptor import read_descriptor

    tops = sorted(dist.top_levels()) if dist else []
    return [(top, read_descriptor(target / top)) for top in tops
            if (target / top / DESCRIPTOR_FILE).is_file()]


def _who_requested(message: str, requested_by: dict[str, list[str]]) -> str:
    """pip's `The user requested X` lines said as which contribution requires X: pip saw
    every contribution's requirements as the user's own."""
    def say(line: str) -> str:
        head, sep, req = line.partition("The user requested ")
        refs = requested_by.get(req.strip()) if sep and not req.startswith("(") else None
        return f"{head}{', '.join(dict.fromkeys(refs))} requires {req.strip()}" if refs \
            else line

    return "\n".join(say(line) for line in message.split("\n"))


def _engine_conflict(message: str) -> str:
    """pip's conflict account rewritten when one side is the engine runtime's pin: who needs
    what, against what the engine runs with ('' when the engine is not part of it)."""
    import re

    pins = {dists.normalize(p.split("==", 1)[0]): p for p in engine_pins()}
    wants = re.findall(r"^\s*(\S+ \S+) depends on (.+?)\s*$", message, re.M)
    held = re.findall(r"The user requested \(constraint\) (\S+)", message)
    from packaging.requirements import InvalidRequirement, Requirement

    for constraint in held:
        try:
            key = dists.normalize(Requirement(constraint).name)
        except InvalidRequirement:
            continue
        if key not in pins:
            continue
        who = [f"{w} requires {r}" for w, r in wants
               if _req_name(r) == key]
        if who:
            return (f"{'; '.join(who)}, but the engine runtime needs {pins[key]}: a "
                    "contribution cannot change a library the engine uses")
    return ""


def _req_name(text: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return dists.normalize(Requirement(text).name)
    except InvalidRequirement:
        return ""
