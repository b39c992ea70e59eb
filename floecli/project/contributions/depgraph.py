"""The dependency graph of one pip resolution: which distribution a requirement turned out to
be, and the distributions it needs, transitively."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import dists


class DependencyGraph:
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
