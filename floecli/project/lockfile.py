"""floe.lock: the engine runtime version and, per installed contribution, exactly what was
installed (version, package directory, hash of its files, the pip distributions it brought)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ProjectError
from .fsutil import atomic_write

LOCK_FILE = "floe.lock"
LOCK_VERSION = 1


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

    @property
    def kind(self) -> str:
        return self.type.split(":", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["distributions"] = list(self.distributions)
        return d

    @classmethod
    def from_json(cls, raw: Any) -> LockedContribution:
        if not isinstance(raw, dict):
            raise ValueError("a contribution entry must be an object")
        fields = {k: raw[k] for k in ("ref", "name", "type", "version", "package", "sha256")}
        if not all(isinstance(v, str) for v in fields.values()):
            raise ValueError(f"entry {raw.get('ref')!r}: ref, name, type, version, package and "
                             "sha256 must be strings")
        return cls(**fields, source=str(raw.get("source", "bundled")),
                   distributions=tuple(str(d) for d in raw.get("distributions") or ()))


@dataclass
class Lock:
    engine_version: str
    contributions: list[LockedContribution] = field(default_factory=list)

    def by_ref(self, ref: str) -> list[LockedContribution]:
        return [c for c in self.contributions if c.ref == ref]

    def refs(self) -> list[str]:
        return sorted({c.ref for c in self.contributions})

    def to_text(self) -> str:
        entries = sorted(self.contributions, key=lambda c: (c.ref, c.package))
        doc = {"lock-version": LOCK_VERSION,
               "engine": {"name": "floe", "version": self.engine_version},
               "contributions": [c.to_json() for c in entries]}
        return json.dumps(doc, indent=2) + "\n"

    def write(self, path: Path) -> None:
        atomic_write(path, self.to_text())

    @classmethod
    def read(cls, path: Path) -> Lock:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            engine = raw["engine"]
            if not isinstance(engine, dict) or not isinstance(engine.get("version"), str):
                raise ValueError("engine.version must be a string")
            entries = [LockedContribution.from_json(c) for c in raw.get("contributions") or []]
        except OSError as e:
            raise ProjectError(f"cannot read {path}: {e.strerror or e}") from None
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ProjectError(f"{path} is corrupt: {e}") from None
        return cls(engine["version"], entries)
