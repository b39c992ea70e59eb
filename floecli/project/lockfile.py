"""floe.lock: the engine runtime version and, per installed contribution, exactly what was
installed (version, package directory, hash of each of its files, what it requires, the git
commit it came from), plus the one resolved set of pip distributions all of them share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ProjectError
from .fsutil import atomic_write

LOCK_FILE = "floe.lock"
LOCK_VERSION = 2
RUNTIME_DIST = "floecli-engine"  # our distribution's name on the package index


@dataclass(frozen=True)
class LockedContribution:
    ref: str  # as installed and recorded in app.json imports
    name: str  # descriptor name: the node type flows use
    type: str  # floe:task | floe:trigger
    version: str  # descriptor version
    package: str  # directory under vendor/
    sha256: str  # `sha256:<hex>` of the package directory's files
    source: str = "bundled"  # bundled | local | git | pip
    distributions: tuple[str, ...] = ()  # `name==version` of every pip distribution it needs
    requires: tuple[str, ...] = ()  # what it asks pip for (its ref, or requirements.txt lines)
    commit: str = ""  # git: the commit sha the ref resolved to
    files: tuple[tuple[str, str], ...] = ()  # (path under the package, sha256 hex)

    @property
    def kind(self) -> str:
        return self.type.split(":", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ref": self.ref, "name": self.name, "type": self.type, "version": self.version,
            "package": self.package, "sha256": self.sha256, "source": self.source,
            "distributions": list(self.distributions), "requires": list(self.requires)}
        if self.commit:
            d["commit"] = self.commit
        d["files"] = dict(self.files)
        return d

    @classmethod
    def from_json(cls, raw: Any) -> LockedContribution:
        if not isinstance(raw, dict):
            raise ValueError("a contribution entry must be an object")
        fields = {k: raw[k] for k in ("ref", "name", "type", "version", "package", "sha256")}
        if not all(isinstance(v, str) for v in fields.values()):
            raise ValueError(f"entry {raw.get('ref')!r}: ref, name, type, version, package and "
                             "sha256 must be strings")
        files = raw.get("files") or {}
        if not isinstance(files, dict):
            raise ValueError(f"entry {raw['ref']!r}: files must be an object")
        return cls(**fields, source=str(raw.get("source", "bundled")),
                   distributions=tuple(str(d) for d in raw.get("distributions") or ()),
                   requires=tuple(str(r) for r in raw.get("requires") or ()),
                   commit=str(raw.get("commit") or ""),
                   files=tuple(sorted((str(k), str(v)) for k, v in files.items())))


@dataclass(frozen=True)
class LockedDistribution:
    """One pip distribution of the project's resolved set, and the hash of its RECORD (which
    holds the hash of each of its files)."""

    name: str
    version: str
    record: str = ""  # `sha256:<hex>` of the .dist-info/RECORD file

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass
class Lock:
    engine_version: str
    contributions: list[LockedContribution] = field(default_factory=list)
    distributions: list[LockedDistribution] = field(default_factory=list)
    engine_sha256: str = ""  # of the runtime wheel, when the runtime is not the toolchain's own

    def by_ref(self, ref: str) -> list[LockedContribution]:
        return [c for c in self.contributions if c.ref == ref]

    def refs(self) -> list[str]:
        return sorted({c.ref for c in self.contributions})

    def to_text(self) -> str:
        entries = sorted(self.contributions, key=lambda c: (c.ref, c.package))
        engine: dict[str, str] = {"name": RUNTIME_DIST, "version": self.engine_version}
        if self.engine_sha256:
            engine["sha256"] = self.engine_sha256
        doc = {"lock-version": LOCK_VERSION, "engine": engine,
               "contributions": [c.to_json() for c in entries],
               "distributions": [{"name": d.name, "version": d.version, "record": d.record}
                                 for d in sorted(self.distributions,
                                                 key=lambda d: d.name.lower())]}
        return json.dumps(doc, indent=2) + "\n"

    def write(self, path: Path) -> None:
        atomic_write(path, self.to_text())

    @classmethod
    def read(cls, path: Path) -> Lock:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            engine = raw["engine"]
            if not isinstance(engine, dict) or not isinstance(engine.get("version"), str):
                raise ValueError("engine.version must be a string")
            entries = [LockedContribution.from_json(c) for c in raw.get("contributions") or []]
            dists = [LockedDistribution(str(d["name"]), str(d["version"]),
                                        str(d.get("record") or ""))
                     for d in raw.get("distributions") or []]
        except OSError as e:
            raise ProjectError(f"cannot read {path}: {e.strerror or e}") from None
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError,
                AttributeError) as e:
            raise ProjectError(f"{path} is corrupt: {e}",
                               hint="restore floe.lock from version control (floe install and "
                                    "floe update write it)") from None
        return cls(engine["version"], entries, dists, str(engine.get("sha256") or ""))
