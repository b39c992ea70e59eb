"""Installer: the install, update and uninstall commands, each on a staged copy of vendor/
under the project lock, keeping app.json `imports` and floe.lock in step."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from floecli.engine.errors import FloeError

from ..errors import InstallError
from ..fsutil import remove
from ..isolation import prove_imports
from ..layout import EngineProject
from ..lockfile import Lock, LockedContribution
from ..pip import Echo
from ..refs import BUNDLED, GIT, LOCAL, Ref, is_path_ref, parse_ref
from .checks import refuse_used
from .directory import copy_contribution, install_dir
from .gitfetch import clone
from .pipresolve import Pending, PipResolver, drop_unneeded
from .staging import Staging

Step = Callable[[str], None]


@dataclass(frozen=True)
class Change:
    """What a command did to one contribution, for the CLI to report."""

    action: str  # installed | unchanged | updated | uninstalled
    entry: LockedContribution
    old_version: str = ""


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
                pending: list[Pending] = []
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
                        pending.append(Pending(ref, spec))
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
                refuse_used(self.project, chosen)
            changes: list[Change] = []
            removed_refs = {e.ref for entries in chosen.values() for e in entries}
            with Staging(self.project) as stage:
                for text, entries in chosen.items():
                    self.step(f"Uninstalling {text}")
                    for e in entries:
                        lock.contributions.remove(e)
                        remove(stage.vendor / e.package)
                        changes.append(Change("uninstalled", e))
                drop_unneeded(stage.vendor, lock)
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
                pending: list[Pending] = []
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
                        pending.append(Pending(self._parse(text, recorded=True), spec))
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
                return copy_contribution(ref, ref.path, stage, lock), ""  # type: ignore[arg-type]
            if ref.kind == LOCAL:
                return install_dir(ref, ref.path, stage, lock)  # type: ignore[arg-type]
            if ref.kind == GIT:
                path, commit = clone(ref, stage, self.echo)
                entry, spec = install_dir(ref, path, stage, lock)
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

    # -- the one resolution ---------------------------------------------------------------

    def _resolve(self, stage: Staging, lock: Lock, pending: list[Pending], *,
                 unpinned: set[str] | None = None) -> list[LockedContribution]:
        """The one pip resolution of this command (pipresolve.py)."""
        resolver = PipResolver(home=self.home, cwd=self.project.root, echo=self.echo,
                               parse=lambda text: self._parse(text, recorded=True))
        return resolver.resolve(stage, lock, pending, unpinned=unpinned)
