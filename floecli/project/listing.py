"""What `floe list` reports: one element per installed contribution (toolchain-reference §5
shape plus `version`), read from floe.lock and the descriptors, without importing the engine."""

from __future__ import annotations

import json
from typing import Any

from .bundles import DESCRIPTOR_FILE
from .errors import ProjectError
from .layout import EngineProject

USED = "used"
UNUSED = "unused"


def list_contributions(project: EngineProject, only: str = "") -> list[dict[str, Any]]:
    """Sorted by ref (then name); `only` = `used` | `unused` filters by what the flows use."""
    entries = project.lock().contributions
    if only in (USED, UNUSED):
        used = project.used_types()
        entries = [e for e in entries if ((e.kind, e.name) in used) == (only == USED)]
    items = []
    for e in sorted(entries, key=lambda e: (e.ref, e.name, e.type)):
        path = project.vendor_dir / e.package
        file = path / DESCRIPTOR_FILE
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ProjectError(f"cannot read {file} ({err.__class__.__name__})",
                               hint=f"reinstall it: floe update {e.ref}") from None
        raw = raw if isinstance(raw, dict) else {}
        items.append({
            "name": e.name, "type": e.type,
            "description": str(raw.get("description") or ""),
            "homepage": str(raw.get("homepage") or ""),
            "ref": e.ref, "path": str(path), "descriptor": DESCRIPTOR_FILE,
            "version": e.version,
        })
    return items
