"""Finding contributions on disk by their descriptors and loading their node classes."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floecli import data_path

from ..errors import ContributionError, ContributionNotFound
from ..flow import TypeCatalog
from .descriptor import DESCRIPTOR_FILE, TYPE_TASK, Descriptor, read_descriptor

log = logging.getLogger(__name__)

BUNDLES_DIR = data_path("bundles")
BUNDLES_PACKAGE = "floecli.bundles"


@dataclass(frozen=True)
class Contribution:
    """A contribution found on disk: its descriptor and the package its `main` lives in."""

    descriptor: Descriptor
    package: str  # import name of the contribution's directory

    @property
    def name(self) -> str:
        return self.descriptor.name

    def load(self) -> type:
        """Import `main` and return the class it names."""
        module_name, _, attr = self.descriptor.main.partition(":")
        # `main` names a module inside the contribution package; the package itself when the
        # module is the directory's own name.
        base = self.package.rpartition(".")[2]
        if module_name == base:
            full = self.package
        elif module_name.startswith(base + "."):
            full = self.package + module_name[len(base):]
        else:
            full = f"{self.package}.{module_name}"
        try:
            module = importlib.import_module(full)
        except Exception as e:
            raise ContributionError(
                f"contribution {self.name}: cannot import {full}: {e}") from e
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise ContributionError(
                    f"contribution {self.name}: {full} has no attribute {attr}")
        return obj


def scan(root: Path, package_prefix: str = "") -> list[Contribution]:
    """Every contribution directly below `root` (a directory with a descriptor.json)."""
    found = []
    if not root.is_dir():
        return found
    for d in sorted(root.iterdir()):
        if (d / DESCRIPTOR_FILE).is_file():
            found.append(Contribution(read_descriptor(d), package_prefix + d.name))
    return found


class Registry:
    """The node types an engine can run, by descriptor name."""

    def __init__(self, contributions: Iterable[Contribution] = ()) -> None:
        self._tasks: dict[str, Contribution] = {}
        self._triggers: dict[str, Contribution] = {}
        self._classes: dict[tuple[str, str], type] = {}
        for c in contributions:
            self.add(c)

    @classmethod
    def discover(cls, vendor_dirs: Iterable[Path] = (), *, builtin: bool = True) -> Registry:
        """The built-in bundles plus contributions installed in each vendor directory (which
        is put on sys.path, as pip --target lays packages out). A vendor directory goes at
        the end of sys.path: the engine's own libraries come first, so a contribution's
        dependency can never replace one of them."""
        found: list[Contribution] = []
        if builtin:
            found += scan(BUNDLES_DIR, BUNDLES_PACKAGE + ".")
        for v in vendor_dirs:
            v = Path(v).resolve()
            if str(v) not in sys.path:
                sys.path.append(str(v))
            found += scan(v)
        return cls(found)

    def add(self, c: Contribution) -> None:
        table = self._tasks if c.descriptor.type == TYPE_TASK else self._triggers
        if c.name in table:
            # A vendored contribution overrides a built-in one of the same name.
            log.info("contribution %s from %s replaces %s", c.name, c.descriptor.path,
                     table[c.name].descriptor.path)
        table[c.name] = c

    def contributions(self) -> list[Contribution]:
        return [*self._tasks.values(), *self._triggers.values()]

    def task(self, type_name: str) -> Contribution | None:
        return self._tasks.get(type_name)

    def trigger(self, type_name: str) -> Contribution | None:
        return self._triggers.get(type_name)

    def catalog(self) -> TypeCatalog:
        return TypeCatalog(
            tasks={n: c.descriptor.opts for n, c in self._tasks.items()},
            triggers={n: c.descriptor.opts for n, c in self._triggers.items()},
        )

    def task_class(self, type_name: str) -> type:
        return self._load("task", type_name, self._tasks)

    def trigger_class(self, type_name: str) -> type:
        return self._load("trigger", type_name, self._triggers)

    def _load(self, kind: str, type_name: str, table: dict[str, Contribution]) -> type:
        key = (kind, type_name)
        if key not in self._classes:
            c = table.get(type_name)
            if c is None:
                raise ContributionNotFound(f"no node type found: {type_name}")
            self._classes[key] = c.load()
        return self._classes[key]
