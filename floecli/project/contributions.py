"""Installing, updating and uninstalling contributions in a project's vendor/, keeping app.json
`imports` and floe.lock in step. All or nothing: the work happens on a staged copy of vendor/
and the project changes only when every ref succeeded."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from floecli.engine.errors import FloeError

from . import dists
from .appdoc import AppDocument
from .bundles import DESCRIPTOR_FILE
from .errors import InstallError
from .fsutil import copy_package, remove, tree_hash
from .layout import EngineProject
from .lockfile import Lock, LockedContribution
from .pip import Echo, run_pip
from .refs import BUNDLED, GIT, LOCAL, Ref, parse_ref

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


class Installer:
    """The install, update and uninstall operations of one project. `step` hears progress
    ("Installing exec"), `echo` (verbose) every line pip and git print."""

    def __init__(self, project: EngineProject, *, step: Step | None = None,
                 echo: Echo | None = None) -> None:
        self.project = project
        self.step = step or (lambda _message: None)
        self.echo = echo

    # -- commands -------------------------------------------------------------------------

    def install(self, refs: Sequence[str]) -> list[Change]:
        """Install each ref not installed yet and record it in imports and the lock."""
        doc, lock = self.project.app_document(), self.project.lock()
        changes: list[Change] = []
        wanted = list(dict.fromkeys(r.strip() for r in refs if r.strip()))
        with Staging(self.project) as stage:
            for text in wanted:
                present = lock.by_ref(text)
                if present:
                    changes += [Change("unchanged", e) for e in present]
                    continue
                self.step(f"Installing {text}")
                entries = self._install_ref(text, stage, lock)
                lock.contributions += entries
                changes += [Change("installed", e) for e in entries]
            imports = doc.imports + [r for r in wanted if r not in doc.imports]
            stage.commit(doc.with_imports(imports), lock)
        return changes

    def uninstall(self, refs: Sequence[str], *, force: bool = False) -> list[Change]:
        """Remove each ref's contributions, the distributions nothing else needs, its import
        and lock entries. A node type a flow still uses is refused unless `force`."""
        doc, lock = self.project.app_document(), self.project.lock()
        chosen: dict[str, list[LockedContribution]] = {}
        for text in dict.fromkeys(refs):
            entries = [c for c in lock.contributions if text in (c.ref, c.package)]
            if not entries:
                raise InstallError(f"{text} is not installed", target=text)
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
                    self._remove_entry(e, stage.vendor, lock)
                    changes.append(Change("uninstalled", e))
            imports = [r for r in doc.imports if r not in removed_refs and r not in chosen]
            stage.commit(doc.with_imports(imports) if "imports" in doc.data else doc, lock)
        return changes

    def update(self, refs: Sequence[str] | None = None) -> list[Change]:
        """Reinstall refs (every installed ref when None) at the newest version they allow."""
        doc, lock = self.project.app_document(), self.project.lock()
        targets = list(dict.fromkeys(refs)) if refs else lock.refs()
        for text in targets:
            if not lock.by_ref(text):
                raise InstallError(f"{text} is not installed", target=text)
        changes: list[Change] = []
        with Staging(self.project) as stage:
            for text in targets:
                self.step(f"Updating {text}")
                old = lock.by_ref(text)
                for e in old:
                    lock.contributions.remove(e)
                    self._remove_entry(e, stage.vendor, lock)
                new = self._install_ref(text, stage, lock)
                lock.contributions += new
                before = {e.package: e for e in old}
                for e in new:
                    prev = before.get(e.package)
                    same = prev is not None and (prev.version, prev.sha256,
                                                 prev.distributions) == (
                        e.version, e.sha256, e.distributions)
                    changes.append(Change("unchanged" if same else "updated", e,
                                          prev.version if prev else ""))
            stage.commit(doc, lock)
        return changes

    # -- one ref --------------------------------------------------------------------------

    def _install_ref(self, text: str, stage: Staging, lock: Lock) -> list[LockedContribution]:
        try:
            ref = parse_ref(text, self.project.root)
            if ref.kind == BUNDLED:
                return [self._copy(ref, ref.path, stage, lock)]  # type: ignore[arg-type]
            if ref.kind == LOCAL:
                return self._install_dir(ref, ref.path, stage, lock)  # type: ignore[arg-type]
            if ref.kind == GIT:
                return self._install_dir(ref, self._clone(ref, stage), stage, lock)
            return self._pip_install(ref, [ref.pip_spec], stage, lock)
        except InstallError as e:
            e.target = e.target or text
            raise
        except FloeError as e:
            raise InstallError(e.message, target=text) from None
        except OSError as e:
            raise InstallError(str(e), target=text) from None

    def _install_dir(self, ref: Ref, path: Path, stage: Staging,
                     lock: Lock) -> list[LockedContribution]:
        if not path.is_dir():
            raise InstallError(f"no such directory: {path}")
        if (path / DESCRIPTOR_FILE).is_file():
            pins: tuple[str, ...] = ()
            if (path / REQUIREMENTS_FILE).is_file():
                pins = self._pip_requirements(path / REQUIREMENTS_FILE, stage)
            return [self._copy(ref, path, stage, lock, pins)]
        if (path / "pyproject.toml").is_file() or (path / "setup.py").is_file():
            return self._pip_install(ref, [str(path)], stage, lock)
        raise InstallError(f"{path} holds no {DESCRIPTOR_FILE} (not a floe contribution)")

    def _copy(self, ref: Ref, src: Path, stage: Staging, lock: Lock,
              pins: tuple[str, ...] = ()) -> LockedContribution:
        """A contribution package directory copied as it is (bundled, local, git)."""
        from floecli.engine.contributions.descriptor import read_descriptor

        descriptor = read_descriptor(src)
        package = src.name
        if not package.isidentifier():
            raise InstallError(f"the directory name {package!r} is not an importable package "
                               "name; rename it (the engine imports the contribution by it)")
        self._check_clash(descriptor.name, descriptor.type, package, stage, lock)
        dest = stage.vendor / package
        copy_package(src, dest)
        return LockedContribution(ref.text, descriptor.name, descriptor.type, descriptor.version,
                                  package, tree_hash(dest), ref.kind, pins)

    def _pip_install(self, ref: Ref, spec: list[str], stage: Staging,
                     lock: Lock) -> list[LockedContribution]:
        """pip installs into a scratch target; the requested distributions' package directories
        holding a descriptor are the contributions, the rest their dependencies."""
        from floecli.engine.contributions.descriptor import read_descriptor

        target, items = self._pip(spec, stage)
        in_target = dists.installed(target)
        pins = tuple(sorted(f"{i['name']}=={i['version']}" for i in items))
        found: list[tuple[str, Descriptor]] = []
        for item in (i for i in items if i["requested"]):
            dist = in_target.get(dists.normalize(item["name"]))
            tops = sorted(dist.top_levels()) if dist else []
            found += [(top, read_descriptor(target / top)) for top in tops
                      if (target / top / DESCRIPTOR_FILE).is_file()]
        if not found:
            raise InstallError(f"{ref.text} is not a floe contribution: no package directory "
                               f"with a valid {DESCRIPTOR_FILE}")
        for top, d in found:
            self._check_clash(d.name, d.type, top, stage, lock)
        self._merge(target, stage.vendor)
        return [LockedContribution(ref.text, d.name, d.type, d.version,
                                   top, tree_hash(stage.vendor / top), ref.kind, pins)
                for top, d in found]

    def _pip_requirements(self, requirements: Path, stage: Staging) -> tuple[str, ...]:
        target, items = self._pip(["-r", str(requirements)], stage)
        self._merge(target, stage.vendor)
        return tuple(sorted(f"{i['name']}=={i['version']}" for i in items))

    def _pip(self, spec: list[str], stage: Staging) -> tuple[Path, list[dict]]:
        target = stage.scratch("pip-")
        report = target.with_suffix(".json")
        run_pip(["install", "--target", str(target), "--report", str(report), "--no-compile",
                 "--no-warn-script-location", "--no-warn-conflicts", *spec],
                echo=self.echo, cwd=self.project.root)
        raw = json.loads(report.read_text(encoding="utf-8"))
        items = [{"name": i["metadata"]["name"], "version": i["metadata"]["version"],
                  "requested": bool(i.get("requested"))} for i in raw.get("install", [])]
        return target, items

    def _merge(self, target: Path, vendor: Path) -> None:
        """Move what pip installed into vendor/; a distribution already there at the same
        version is kept, at another version it is replaced."""
        present = dists.installed(vendor)
        for key, dist in dists.installed(target).items():
            old = present.get(key)
            if old is not None and old.version == dist.version:
                continue
            if old is not None:
                dists.remove_dist(old, vendor)
            dists.move_dist(dist, target, vendor)

    def _clone(self, ref: Ref, stage: Staging) -> Path:
        name = ref.url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
        dest = stage.scratch("git-") / (name or "repo")
        self._git(["clone", "--quiet", ref.url, str(dest)])
        if ref.rev:
            self._git(["-C", str(dest), "checkout", "--quiet", ref.rev])
        return dest / ref.subdir if ref.subdir else dest

    def _git(self, args: list[str]) -> None:
        if self.echo:
            self.echo("$ git " + " ".join(args))
        try:
            proc = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise InstallError("git is not installed") from None
        if self.echo:
            for line in (proc.stdout + proc.stderr).splitlines():
                self.echo(line)
        if proc.returncode != 0:
            detail = proc.stderr.strip() or f"exit status {proc.returncode}"
            raise InstallError(f"git failed: {detail}")

    # -- checks and removal ---------------------------------------------------------------

    def _check_clash(self, name: str, type_: str, package: str, stage: Staging,
                     lock: Lock) -> None:
        kind = type_.split(":", 1)[-1]
        for c in lock.contributions:
            if c.package == package:
                raise InstallError(f"vendor/{package} is already installed (from {c.ref})")
            if (c.name, c.type) == (name, type_):
                raise InstallError(f"a {kind} named {name} is already installed (from {c.ref})")
        if (stage.vendor / package).exists():
            raise InstallError(f"vendor/{package} already exists")

    def _remove_entry(self, entry: LockedContribution, vendor: Path, lock: Lock) -> None:
        """Remove a contribution and the distributions no remaining entry needs."""
        needed = {p for c in lock.contributions for p in c.distributions}
        present = {d.pin: d for d in dists.installed(vendor).values()}
        for pin in entry.distributions:
            if pin not in needed and pin in present:
                dists.remove_dist(present[pin], vendor)
        remove(vendor / entry.package)

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

