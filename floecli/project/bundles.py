"""The contributions shipped with floe (bundles/ at the top level) and bundle files listing refs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from floecli import data_path

from .errors import ProjectError

BUNDLES_DIR = data_path("bundles")
DEFAULT_APP = data_path("default-app.json")
DEFAULT_BUNDLE = data_path("default-bundle.json")
DESCRIPTOR_FILE = "descriptor.json"


def bundled_names() -> list[str]:
    """Refs of the shipped contributions: their directory names (`exec`, `data`,
    `data_trigger`...). The directory name, not the descriptor name, because the data task and
    the data trigger share the descriptor name `data`."""
    return sorted(d.name for d in BUNDLES_DIR.iterdir() if (d / DESCRIPTOR_FILE).is_file())


def bundled_dir(ref: str) -> Path | None:
    d = BUNDLES_DIR / ref
    if ref and "/" not in ref and ref not in (".", "..") and (d / DESCRIPTOR_FILE).is_file():
        return d
    return None


def bundled_types() -> dict[tuple[str, str], str]:
    """(`task` | `trigger`, node type) → the ref of the shipped contribution providing it."""
    found = {}
    for name in bundled_names():
        try:
            raw = json.loads((BUNDLES_DIR / name / DESCRIPTOR_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        kind = str(raw.get("type", "")).split(":", 1)[-1]
        found[(kind, str(raw.get("name", "")))] = name
    return found


def default_bundle_file() -> Path:
    """`FLOE_DEFAULT_BUNDLE` when set, else the bundle shipped with floe."""
    override = os.environ.get("FLOE_DEFAULT_BUNDLE", "")
    return Path(override).expanduser() if override else DEFAULT_BUNDLE


BUNDLE_HINT = 'a bundle file is UTF-8 JSON such as {"contributions": ["exec", "./mytask"]}'


def read_bundle(path: Path) -> list[str]:
    """The `contributions` refs of a bundle file (toolchain-reference §4.1); the other keys are
    informational."""
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise ProjectError(f"cannot read {path}: {e.strerror or e}",
                           hint="give -f the path of a bundle file") from None
    except UnicodeDecodeError:
        raise ProjectError(f"{path}: not UTF-8 text", hint=BUNDLE_HINT) from None
    except json.JSONDecodeError as e:
        raise ProjectError(f"{path}:{e.lineno}: invalid JSON: {e.msg}",
                           hint=BUNDLE_HINT) from None
    refs = raw.get("contributions") if isinstance(raw, dict) else None
    if not isinstance(refs, list) or not all(isinstance(r, str) and r.strip() for r in refs):
        raise ProjectError(f"{path}: 'contributions' must be a list of refs", hint=BUNDLE_HINT)
    return [r.strip() for r in refs]
