"""`floe create`: a new engine project (app document, template files, vendored default bundle,
lock file, empty bin/) made in a staging directory and moved into place only when complete."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .appdoc import AppDocument
from .bundles import DEFAULT_APP, default_bundle_file, read_bundle
from .contributions import Change, Installer, Step
from .errors import ProjectError
from .fsutil import atomic_write
from .layout import APP_FILE, BIN_DIR, VENDOR_DIR, EngineProject
from .lockfile import Lock
from .pip import Echo
from .runtime import ensure_runtime

TEMPLATE_DIR = Path(__file__).resolve().parent / "engine_template"


@dataclass(frozen=True)
class Created:
    project: EngineProject
    engine_version: str
    changes: list[Change]


def load_app_source(source: str | None) -> AppDocument:
    """The app document from a file or http(s) URL (JSON or YAML), else the default app."""
    if not source:
        return AppDocument(DEFAULT_APP.read_text(encoding="utf-8"), "default-app.json")
    if source.startswith(("http://", "https://")):
        import httpx  # only remote app files need it

        try:
            response = httpx.get(source, follow_redirects=True, timeout=30)
            response.raise_for_status()
        except httpx.HTTPError as e:
            raise ProjectError(f"cannot load remote app file {source}: {e}") from None
        return AppDocument.from_json_or_yaml(response.text, source)
    path = Path(source).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ProjectError(
            f"cannot load app file {source}: {getattr(e, 'strerror', None) or e}") from None
    return AppDocument.from_json_or_yaml(text, source)


def project_name(name: str | None, doc: AppDocument) -> str:
    """NAME when given, else the app's `name`; it must be usable as one directory name."""
    chosen = (name or doc.name).strip()
    if not chosen:
        raise ProjectError("app name not specified: give NAME or a `name` in the app document")
    if chosen in (".", "..") or "/" in chosen or "\\" in chosen or "\0" in chosen:
        raise ProjectError(f"{chosen!r} cannot be a project directory name")
    return chosen


def create_project(parent: Path, name: str, doc: AppDocument, engine_version: str, *,
                   step: Step | None = None, echo: Echo | None = None) -> Created:
    """Make `parent/name`. An existing non-empty directory is refused; on any failure nothing
    is left behind (an existing empty directory stays as it was)."""
    target = parent / name
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise ProjectError(f"{target} already exists and is not empty")
    bundle = read_bundle(default_bundle_file())
    version = ensure_runtime(engine_version, echo=echo)
    stage = Path(tempfile.mkdtemp(prefix=f".floe-create-{name}-", dir=parent))
    try:
        root = stage / name
        root.mkdir()
        if doc.name != name:
            doc = doc.with_value("name", name)
        atomic_write(root / APP_FILE, doc.text)
        for item in sorted(TEMPLATE_DIR.iterdir()):
            if item.is_file():
                shutil.copyfile(item, root / item.name)
        (root / VENDOR_DIR).mkdir()
        (root / BIN_DIR).mkdir()
        project = EngineProject(root)
        Lock(version).write(project.lock_file)
        refs = list(dict.fromkeys([*bundle, *doc.imports]))
        changes = Installer(project, step=step, echo=echo).install(refs)
        if target.exists():
            target.rmdir()
        root.rename(target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Created(EngineProject(target.resolve()), version, changes)
