"""An engine project on disk: where its files are, checking a directory is one, and what its
app document uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ProjectError
from .lockfile import LOCK_FILE, Lock

if TYPE_CHECKING:
    from floecli.engine.contributions.registry import Contribution
    from floecli.engine.flow import AppConfig

    from .appdoc import AppDocument

APP_FILE = "app.json"
VENDOR_DIR = "vendor"
BIN_DIR = "bin"
ENTRY_FILE = "main.py"


@dataclass(frozen=True)
class EngineProject:
    """`<root>/app.json`, `vendor/` (contributions as `pip install --target` lays them out),
    `floe.lock`, `main.py` (the entry module) and `bin/` (build output). The project's name is
    the root directory's basename, as in flogo."""

    root: Path

    @classmethod
    def open(cls, path: Path) -> EngineProject:
        """The project at `path`; ProjectError naming the first thing missing."""
        project = cls(Path(path).resolve())
        problem = project.missing()
        if problem:
            raise ProjectError(f"not a floe engine project directory, missing {problem}",
                               hint="run this in an engine project's directory, or make one "
                                    "with 'floe create NAME'")
        project.tidy()
        return project

    @classmethod
    def is_project(cls, path: Path) -> bool:
        return not cls(Path(path).resolve()).missing()

    def missing(self) -> str:
        """What keeps the directory from being a project ('' when nothing does)."""
        if not self.app_file.is_file():
            return APP_FILE
        if not self.vendor_dir.is_dir():
            return f"{VENDOR_DIR}/ directory"
        if not self.lock_file.is_file():
            return LOCK_FILE
        return ""

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def app_file(self) -> Path:
        return self.root / APP_FILE

    @property
    def vendor_dir(self) -> Path:
        return self.root / VENDOR_DIR

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def lock_path(self) -> Path:
        """The project lock (see projectlock), held by every command that changes the project."""
        from .projectlock import LOCK_NAME

        return self.root / LOCK_NAME

    def locked(self, notify: Callable[[str], None] | None = None,
               ) -> AbstractContextManager[None]:
        """Hold the project lock; what an interrupted command left behind (a staged copy of
        vendor/, a half-written binary) is removed first, since only a command holding the
        lock makes such files."""
        from contextlib import contextmanager

        from .projectlock import project_lock

        @contextmanager
        def held() -> Iterator[None]:
            with project_lock(self.lock_path, notify=notify):
                self.remove_leftovers()
                yield

        return held()

    def tidy(self) -> list[Path]:
        """What an interrupted command left (remove_leftovers), removed by whichever command
        comes next, `floe list` included, when no other command holds the project lock; a
        busy or read-only project is left alone. What was removed."""
        from .projectlock import LockTimeout, project_lock

        if not any(self.root.glob(".floe-stage-*")) and not (
                self.bin_dir.is_dir() and any(self.bin_dir.rglob(".*.floe-tmp"))):
            return []  # nothing to do: not even the lock is taken
        try:
            with project_lock(self.lock_path, timeout=0):
                return self.remove_leftovers()
        except (LockTimeout, OSError):
            return []

    def remove_leftovers(self) -> list[Path]:
        """Delete the `.floe-stage-*` directories and `bin/` temporary files an interrupted
        install or build left (call only while holding the project lock); what was
        removed."""
        import shutil

        found = [d for d in self.root.glob(".floe-stage-*") if d.is_dir()]
        if self.bin_dir.is_dir():
            found += [f for f in self.bin_dir.rglob(".*.floe-tmp") if f.is_file()]
        for path in found:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return found

    @property
    def bin_dir(self) -> Path:
        return self.root / BIN_DIR

    @property
    def entry_file(self) -> Path:
        return self.root / ENTRY_FILE

    def app_document(self) -> AppDocument:
        from .appdoc import AppDocument  # `floe list` reads no app document

        return AppDocument.read(self.app_file)

    def lock(self) -> Lock:
        return Lock.read(self.lock_file)

    def engine_version(self) -> str:
        """The engine runtime version the project builds with (from floe.lock)."""
        return self.lock().engine_version

    def contributions(self) -> list[Contribution]:
        """Every contribution in vendor/, by its descriptor."""
        from floecli.engine.contributions.registry import scan  # the engine's config model is heavy

        return scan(self.vendor_dir)

    def app_config(self) -> AppConfig:
        """The app document parsed by the engine's loader (node types not checked)."""
        from floecli.engine.config.loader import load_app
        from floecli.engine.errors import ConfigError

        try:
            return load_app(self.app_file)
        except ConfigError as e:
            raise ProjectError(f"{APP_FILE} is invalid:\n{e}") from None

    def used_types(self) -> set[tuple[str, str]]:
        """(`task` | `trigger`, type name) of every node the app's flows use."""
        return {(kind, node_type) for kind, node_type, _, _ in self.type_users()}

    def type_users(self) -> list[tuple[str, str, str, str]]:
        """(kind, type name, flow id, node id) of every trigger and task of every flow."""
        from floecli.engine.flow import CLASS_TASK, CLASS_TRIGGER

        kinds = {CLASS_TRIGGER: "trigger", CLASS_TASK: "task"}
        return [(kinds[n.class_], n.type, f.id, n.id)
                for f in self.app_config().flows for n in (*f.triggers, *f.tasks)
                if n.class_ in kinds and n.type]
