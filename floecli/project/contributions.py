"""Installing, updating and uninstalling contributions in a project's vendor/, keeping app.json
`imports` and floe.lock in step. All or nothing and one at a time: each command holds the
project lock, works on a staged copy of vendor/, and the project changes only when every ref
succeeded. The pip requirements of all installed contributions are resolved together, in one
pip run with the engine runtime's own pins as constraints, so two contributions that need
different versions of a dependency, or one that needs another version of an engine library,
are a conflict reported with both requirements, never a vendor/ holding only one of them.
The engine's libraries never land in vendor/ (the runtime provides them), no dependency may
ship a package named like a contribution's or an engine library, and every contribution
installed or updated is imported in a subprocess before anything is kept."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floecli.engine.errors import FloeError, GitError

from . import dists
from .appdoc import AppDocument
from .bundles import DESCRIPTOR_FILE
from .errors import InstallError
from .fsutil import copy_package, file_hashes, file_sha256, remove, tree_hash
from .isolation import (
    check_dependencies,
    check_package_name,
    engine_names,
    engine_pins,
    prove_imports,
)
from .layout import EngineProject
from .lockfile import Lock, LockedContribution, LockedDistribution
from .pip import Echo, PipError, run_pip
from .refs import BUNDLED, GIT, LOCAL, PIP, Ref, is_path_ref, parse_ref

if TYPE_CHECKING:
    from floecli.engine.contributions.descriptor import Descriptor

Step = Callable[[str], None]
REQUIREMENTS_FILE = "requirements.txt"  # a plain contribution directory's dependencies


@dataclass(frozen=True)
class Change:
    """What a command did to one contribution, for the CLI to report."""

    action: str  # installed | unchanged | updated | uninstalled
    entry: LockedContribution
    old_version: str = ""


class Staging:
    """A copy of vendor/ to work on, and scratch space, inside the project directory (so the
    final move is a rename on one file system). Nothing of the project changes before
    commit(); leaving the block removes the staging directory."""

    def __init__(self, project: EngineProject) -> None:
        self.project = project
        self.dir = Path(tempfile.mkdtemp(prefix=".floe-stage-", dir=project.root))
        self.vendor = self.dir / "vendor"
        self._count = 0

    def __enter__(self) -> Staging:
        try:
            shutil.copytree(self.project.vendor_dir, self.vendor, symlinks=True)
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def scratch(self, prefix: str) -> Path:
        self._count += 1
        path = self.dir / f"{prefix}{self._count}"
        path.mkdir()
        return path

    def commit(self, doc: AppDocument, lock: Lock) -> None:
        p = self.project
        old = self.dir / "old-vendor"
        p.vendor_dir.rename(old)
        try:
            self.vendor.rename(p.vendor_dir)
            lock.write(p.lock_file)
        except BaseException:
            if p.vendor_dir.exists():
                p.vendor_dir.rename(self.vendor)
            old.rename(p.vendor_dir)
            raise
        doc.save(p.app_file)


@dataclass
class _Pending:
    """A pip ref waiting for the resolution that tells which distribution it is."""

    ref: Ref
    spec: str


class Installer:
    """The install, update and uninstall operations of one project. `step` hears progress
    ("Installing exec"), `echo` (verbose) every line pip and git print, `notify` that the
    command waits for another one's project lock. Refs are read relative to `base` (the
    directory of the app document or bundle naming them; default the project) and recorded
    relative to `home` (where the project ends up; default where it is)."""

    def __init__(self, project: EngineProject, *, step: Step | None = None,
                 echo: Echo | None = None, notify: Step | None = None,
                 base: Path | None = None, home: Path | None = None) -> None:
        self.project = project
        self.step = step or (lambda _message: None)
        self.echo = echo
        self.notify = notify
        self.base = base or project.root
        self.home = home or project.root

    # -- commands -------------------------------------------------------------------------

    def install(self, refs: Sequence[str]) -> list[Change]:
        """Install each ref not installed yet and record it in imports and the lock."""
        with self.project.locked(self.notify):
            doc, lock = self.project.app_document(), self.project.lock()
            changes: list[Change] = []
            wanted = list(dict.fromkeys(r.strip() for r in refs if r.strip()))
            recorded: list[str] = []
            with Staging(self.project) as stage:
                pending: list[_Pending] = []
                resolve = False
                for text in wanted:
                    ref = self._parse(text)
                    recorded.append(ref.recorded)
                    present = lock.by_ref(ref.recorded)
                    if present:
                        changes += [Change("unchanged", e) for e in present]
                        continue
                    if any(p.ref.recorded == ref.recorded for p in pending):
                        continue
                    self.step(f"Installing {text}")
                    entry, spec = self._install_ref(ref, stage, lock)
                    if entry is not None:
                        lock.contributions.append(entry)
                        changes.append(Change("installed", entry))
                        resolve = resolve or bool(entry.requires)
                    else:
                        pending.append(_Pending(ref, spec))
                try:
                    if pending or resolve:
                        for e in self._resolve(stage, lock, pending):
                            changes.append(Change("installed", e))
                except InstallError as e:
                    # a resolution is about every ref of the command: name them
                    fresh = [c.entry.ref for c in changes if c.action == "installed"]
                    fresh += [p.ref.text for p in pending]
                    e.target = e.target or ", ".join(dict.fromkeys(fresh))
                    raise
                prove_imports(stage.vendor, {c.entry.package: c.entry.ref for c in changes
                                             if c.action == "installed"})
                imports = doc.imports + [r for r in recorded if r not in doc.imports]
                stage.commit(doc.with_imports(imports), lock)
        return changes

    def uninstall(self, refs: Sequence[str], *, force: bool = False) -> list[Change]:
        """Remove each ref's contributions, the distributions no remaining one needs, its
        import and lock entries. A node type a flow still uses is refused unless `force`."""
        with self.project.locked(self.notify):
            doc, lock = self.project.app_document(), self.project.lock()
            chosen: dict[str, list[LockedContribution]] = {}
            for text in dict.fromkeys(refs):
                recorded = self._recorded(text)
                entries = [c for c in lock.contributions
                           if text in (c.ref, c.package) or c.ref == recorded]
                if not entries:
                    raise InstallError(f"{text} is not installed", target=text,
                                       hint="'floe list' shows the installed refs")
                chosen[text] = entries
            if not force:
                self._refuse_used(chosen)
            changes: list[Change] = []
            removed_refs = {e.ref for entries in chosen.values() for e in entries}
            with Staging(self.project) as stage:
                for text, entries in chosen.items():
                    self.step(f"Uninstalling {text}")
                    for e in entries:
                        lock.contributions.remove(e)
                        remove(stage.vendor / e.package)
                        changes.append(Change("uninstalled", e))
                self._drop_unneeded(stage.vendor, lock)
                imports = [r for r in doc.imports if r not in removed_refs and r not in chosen]
                stage.commit(doc.with_imports(imports) if "imports" in doc.data else doc, lock)
        return changes

    def update(self, refs: Sequence[str] | None = None) -> list[Change]:
        """Reinstall refs (every installed ref when None) at the newest version they allow."""
        with self.project.locked(self.notify):
            doc, lock = self.project.app_document(), self.project.lock()
            targets = [self._recorded(r) for r in dict.fromkeys(refs)] if refs else lock.refs()
            for text in targets:
                if not lock.by_ref(text):
                    raise InstallError(f"{text} is not installed", target=text,
                                       hint="'floe list' shows the installed refs")
            changes: list[Change] = []
            before = {(e.ref, e.package): e for e in lock.contributions}
            unpinned = {p for e in lock.contributions if e.ref in targets
                        for p in e.distributions}
            with Staging(self.project) as stage:
                pending: list[_Pending] = []
                for text in targets:
                    self.step(f"Updating {text}")
                    for e in lock.by_ref(text):
                        lock.contributions.remove(e)
                        remove(stage.vendor / e.package)
                    entry, spec = self._install_ref(self._parse(text, recorded=True), stage,
                                                    lock)
                    if entry is not None:
                        lock.contributions.append(entry)
                    else:
                        pending.append(_Pending(self._parse(text, recorded=True), spec))
                if any(e.requires for e in lock.contributions) or pending:
                    self._resolve(stage, lock, pending, unpinned=unpinned)
                for e in sorted(lock.contributions, key=lambda c: (c.ref, c.package)):
                    if e.ref not in targets:
                        continue
                    prev = before.get((e.ref, e.package))
                    same = prev is not None and (prev.version, prev.sha256,
                                                 prev.distributions) == (
                        e.version, e.sha256, e.distributions)
                    changes.append(Change("unchanged" if same else "updated", e,
                                          prev.version if prev else ""))
                prove_imports(stage.vendor, {c.entry.package: c.entry.ref for c in changes
                                             if c.action == "updated"})
                stage.commit(doc, lock)
        return changes

    # -- one ref --------------------------------------------------------------------------

    def _parse(self, text: str, *, recorded: bool = False) -> Ref:
        """A ref typed by the user (relative to `base`) or read back from the lock (relative
        to the project)."""
        try:
            if recorded and is_path_ref(text):
                where = os.path.normpath(self.home / text)
                return replace(parse_ref(where, self.project.root, self.home), text=text,
                               recorded=text)
            return parse_ref(text, self.base, self.home)
        except OSError as e:
            raise InstallError(str(e), target=text) from None

    def _recorded(self, text: str) -> str:
        return self._parse(text).recorded if is_path_ref(text) or text.startswith("/") \
            else text

    def _install_ref(self, ref: Ref, stage: Staging, lock: Lock,
                     ) -> tuple[LockedContribution | None, str]:
        """A copied contribution's lock entry; or (None, pip spec) for a pip ref, which the
        resolution installs."""
        try:
            if ref.kind == BUNDLED:
                return self._copy(ref, ref.path, stage, lock), ""  # type: ignore[arg-type]
            if ref.kind == LOCAL:
                return self._install_dir(ref, ref.path, stage, lock)  # type: ignore[arg-type]
            if ref.kind == GIT:
                path, commit = self._clone(ref, stage)
                entry, spec = self._install_dir(ref, path, stage, lock)
                if entry is not None:
                    entry = replace(entry, commit=commit)
                return entry, spec
            return None, ref.pip_spec
        except InstallError as e:
            e.target = e.target or ref.text
            raise
        except FloeError as e:
            raise InstallError(e.message, target=ref.text) from None
        except OSError as e:
            raise InstallError(str(e), target=ref.text) from None

    def _install_dir(self, ref: Ref, path: Path, stage: Staging, lock: Lock,
                     ) -> tuple[LockedContribution | None, str]:
        if not path.is_dir():
            raise InstallError(f"no such directory: {path}")
        if (path / DESCRIPTOR_FILE).is_file():
            requires: tuple[str, ...] = ()
            if (path / REQUIREMENTS_FILE).is_file():
                requires = _requirement_lines(path / REQUIREMENTS_FILE)
            return self._copy(ref, path, stage, lock, requires), ""
        if (path / "pyproject.toml").is_file() or (path / "setup.py").is_file():
            return None, str(path)
        raise InstallError(f"{path} holds no {DESCRIPTOR_FILE} (not a floe contribution)")

    def _copy(self, ref: Ref, src: Path, stage: Staging, lock: Lock,
              requires: tuple[str, ...] = ()) -> LockedContribution:
        """A contribution package directory copied as it is (bundled, local, git)."""
        from floecli.engine.contributions.descriptor import read_descriptor

        descriptor = read_descriptor(src)
        package = src.name
        if not package.isidentifier():
            raise InstallError(f"the directory name {package!r} is not an importable package "
                               "name; rename it (the engine imports the contribution by it)")
        check_package_name(package, f"{descriptor.kind} {descriptor.name}")
        self._check_clash(descriptor.name, descriptor.type, package, stage, lock)
        dest = stage.vendor / package
        copy_package(src, dest)
        return LockedContribution(ref.recorded, descriptor.name, descriptor.type,
                                  descriptor.version, package, tree_hash(dest), ref.kind,
                                  requires=requires, files=file_hashes(dest))

    # -- the one resolution ---------------------------------------------------------------

    def _resolve(self, stage: Staging, lock: Lock, pending: list[_Pending], *,
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
            named = [p.ref.text for p in pending if p.ref.text in e.message]
            e.target = e.target or (named[0] if named else
                                    pending[0].ref.text if len(pending) == 1 else "")
            raise
        graph = _Graph(items)
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
        claims: list[tuple[Ref, str]] = [(self._parse(e.ref, recorded=True), e.ref)
                                         for e in {e.ref: e for e in pip_entries}.values()]
        claims += [(p.ref, p.ref.recorded) for p in pending]
        fresh = {p.ref.recorded for p in pending}
        for ref, recorded in claims:
            spec = self._pip_arg(ref.recorded) if ref.recorded not in fresh else ref.pip_spec
            name = graph.root_name(spec, self.home)
            dist = in_target.get(dists.normalize(name)) if name else None
            found = self._contributions_in(dist, target)
            if not found:
                raise InstallError(f"{ref.text} is not a floe contribution: no package directory "
                                   f"with a valid {DESCRIPTOR_FILE}", target=ref.text)
            for top, d in found:
                self._check_clash(d.name, d.type, top, None, lock)
                check_package_name(top, f"{d.kind} {d.name}")
                entry = LockedContribution(
                    recorded, d.name, d.type, d.version, top, tree_hash(target / top), PIP,
                    graph.closure([name]), (recorded,), files=file_hashes(target / top))
                lock.contributions.append(entry)
                if recorded in fresh:
                    new.append(entry)
        self._check_isolation(in_target, lock, fresh)
        for dist in in_target.values():
            dists.move_dist(dist, target, stage.vendor)
        lock.distributions = [
            LockedDistribution(d.name, d.version, file_sha256(d.info / "RECORD")
                               if (d.info / "RECORD").is_file() else "")
            for d in dists.installed(stage.vendor).values()]
        return new

    @staticmethod
    def _check_isolation(in_target: dict[str, dists.Dist], lock: Lock, fresh: set[str],
                         ) -> None:
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
            run_pip(args, echo=self.echo, cwd=self.project.root)
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

    def _contributions_in(self, dist: dists.Dist | None, target: Path,
                          ) -> list[tuple[str, Descriptor]]:
        from floecli.engine.contributions.descriptor import read_descriptor

        tops = sorted(dist.top_levels()) if dist else []
        return [(top, read_descriptor(target / top)) for top in tops
                if (target / top / DESCRIPTOR_FILE).is_file()]

    def _drop_unneeded(self, vendor: Path, lock: Lock) -> None:
        """Remove the distributions no remaining contribution needs."""
        needed = {dists.normalize(p.split("==", 1)[0]) for c in lock.contributions
                  for p in c.distributions}
        for key, dist in dists.installed(vendor).items():
            if key not in needed:
                dists.remove_dist(dist, vendor)
        lock.distributions = [d for d in lock.distributions if dists.normalize(d.name) in needed]

    # -- git ------------------------------------------------------------------------------

    def _clone(self, ref: Ref, stage: Staging) -> tuple[Path, str]:
        """The checked-out directory and the commit sha the ref resolved to."""
        from floecli.engine import git  # the one module every part of floe uses for git

        dest = stage.scratch("git-") / git.repo_name(ref.url)
        if self.echo:
            self.echo(f"$ git clone {ref.url}" + (f" at {ref.rev}" if ref.rev else ""))
        try:
            git.clone(ref.url, dest, ref.rev)
            commit = git.run(["-C", str(dest), "rev-parse", "HEAD"]).strip()
        except GitError as e:
            raise InstallError(f"git failed: {e.detail}") from None
        return (dest / ref.subdir if ref.subdir else dest), commit

    # -- checks ---------------------------------------------------------------------------

    def _check_clash(self, name: str, type_: str, package: str, stage: Staging | None,
                     lock: Lock) -> None:
        kind = type_.split(":", 1)[-1]
        for c in lock.contributions:
            if c.package == package:
                raise InstallError(f"vendor/{package} is already installed (from {c.ref})")
            if (c.name, c.type) == (name, type_):
                raise InstallError(f"a {kind} named {name} is already installed (from {c.ref})")
        if stage is not None and (stage.vendor / package).exists():
            raise InstallError(f"vendor/{package} already exists")

    def _refuse_used(self, chosen: dict[str, list[LockedContribution]]) -> None:
        users = self.project.type_users()
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


class _Graph:
    """The distributions of one pip resolution and what each requires."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        from packaging.requirements import InvalidRequirement, Requirement

        self.items = {dists.normalize(i["name"]): i for i in items}
        self.edges: dict[str, list[str]] = {}
        for key, item in self.items.items():
            deps = []
            for text in item["requires"]:
                try:
                    req = Requirement(text)
                except InvalidRequirement:
                    continue
                if req.marker is None or req.marker.evaluate({"extra": ""}):
                    deps.append(dists.normalize(req.name))
            self.edges[key] = deps

    def root_name(self, spec: str, home: Path) -> str:
        """The distribution a requirement as given to pip turned out to be ('' if unknown)."""
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import InvalidWheelFilename, parse_wheel_filename

        try:
            key = dists.normalize(Requirement(spec).name)
            if key in self.items:
                return self.items[key]["name"]
        except InvalidRequirement:
            pass
        if spec.endswith(".whl"):
            try:
                key = dists.normalize(str(parse_wheel_filename(Path(spec).name)[0]))
                if key in self.items:
                    return self.items[key]["name"]
            except InvalidWheelFilename:
                pass
        wanted = {spec.removeprefix("git+")}
        if "://" not in spec:
            path = Path(spec) if Path(spec).is_absolute() else home / spec
            wanted.add(Path(os.path.normpath(path)).as_uri())
        for item in self.items.values():
            url = item["url"]
            if item["requested"] and (url in wanted or any(url and w.startswith(url)
                                                             for w in wanted)):
                return item["name"]
        return ""

    def closure(self, names: Iterable[str]) -> tuple[str, ...]:
        seen: set[str] = set()
        todo = [dists.normalize(n) for n in names if n]
        while todo:
            key = todo.pop()
            if key in seen or key not in self.items:
                continue
            seen.add(key)
            todo += self.edges.get(key, [])
        return tuple(sorted(f"{self.items[k]['name']}=={self.items[k]['version']}"
                            for k in seen))


def _requirement_lines(path: Path) -> tuple[str, ...]:
    """The requirements of a requirements.txt (comments, blank lines and options left out)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return tuple(lines)


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
