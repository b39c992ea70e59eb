"""`floe create`: a new engine project (app document, template files, vendored default bundle
and every bundled contribution the flows use, lock file, empty bin/) made in a staging
directory, checked as `floe validate` would, and moved into place only when complete."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from floecli import data_path
from floecli.engine.errors import ConfigError

from .appdoc import AppDocument
from .bundles import DEFAULT_APP, bundled_types, default_bundle_file, read_bundle
from .contributions import Change, Installer, Step
from .errors import ProjectError
from .fsutil import atomic_write
from .layout import APP_FILE, BIN_DIR, VENDOR_DIR, EngineProject
from .lockfile import Lock
from .pip import Echo
from .projectlock import project_lock
from .refs import parse_ref
from .runtime import ensure_runtime
from .validation import decode, require_valid

TEMPLATE_DIR = data_path("engine_template")


@dataclass(frozen=True)
class Created:
    project: EngineProject
    engine_version: str
    changes: list[Change]


@dataclass(frozen=True)
class AppSource:
    """An app document as read: `doc` is the JSON the project keeps, `text` what the user
    wrote (where problems are placed), `base` the directory its relative refs are read from."""

    doc: AppDocument
    text: str
    source: str
    base: Path | None


def load_app_source(source: str | None) -> AppSource:
    """The app document from a file or http(s) URL (JSON, or YAML for other names), else the
    default app; read by the engine's own reader, so what `floe validate` rejects is a
    ConfigError here too."""
    if not source:
        text = DEFAULT_APP.read_text(encoding="utf-8")
        return AppSource(AppDocument(text, "default-app.json"), text, "default-app.json",
                         DEFAULT_APP.parent)
    base: Path | None
    if source.startswith(("http://", "https://")):
        import httpx  # only remote app files need it

        try:
            response = httpx.get(source, follow_redirects=True, timeout=30)
            response.raise_for_status()
        except httpx.HTTPError as e:
            raise ProjectError(f"cannot load remote app file {source}: {e}",
                               hint="check the URL, or download the file and give its path "
                                    "to -f") from None
        data, base = response.content, None
    else:
        path = Path(source).expanduser()
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ProjectError(f"cannot load app file {source}: {e.strerror or e}",
                               hint="give -f the path of an app document (JSON or YAML)"
                               ) from None
        base = path.resolve().parent
    text = decode(data, source)
    require_valid(text, source)  # syntax and structure; node types once contributions are in
    return AppSource(_as_json(text, source), text, source, base)


def _as_json(text: str, source: str) -> AppDocument:
    try:
        json.loads(text)
        return AppDocument(text, source)
    except json.JSONDecodeError:
        return AppDocument.from_json_or_yaml(text, source)


def project_name(name: str | None, doc: AppDocument) -> str:
    """NAME when given, else the app's `name`; it must be usable as one directory name."""
    chosen = (name or doc.name).strip()
    if not chosen:
        raise ProjectError("app name not specified: give NAME or a `name` in the app document",
                           hint="floe create NAME")
    if chosen in (".", "..") or "/" in chosen or "\\" in chosen or "\0" in chosen:
        raise ProjectError(f"{chosen!r} cannot be a project directory name",
                           hint="give a NAME without '/' that is not '.' or '..'")
    return chosen


def create_project(parent: Path, name: str, app: AppSource, engine_version: str, *,
                   step: Step | None = None, echo: Echo | None = None,
                   notify: Step | None = None) -> Created:
    """Make `parent/name`. An existing non-empty directory is refused; on any failure nothing
    is left behind (an existing empty directory stays as it was)."""
    parent = parent.resolve()
    target = parent / name
    lock_path = parent / f".floe-create-{name}.lock"
    with project_lock(lock_path, notify=notify, remove=True):
        return _create(parent, target, name, app, engine_version, step, echo)


def _create(parent: Path, target: Path, name: str, app: AppSource, engine_version: str,
            step: Step | None, echo: Echo | None) -> Created:
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise ProjectError(f"{target} already exists and is not empty",
                           hint="give another NAME, or remove that directory first")
    bundle = read_bundle(default_bundle_file())
    runtime = ensure_runtime(engine_version, echo=echo)
    base = app.base or parent
    doc = app.doc
    if app.base is None and any(_is_relative(i) for i in doc.imports):
        raise ProjectError(f"{app.source}: a remote app document cannot import a local path",
                           hint="download the app document and give its local path to -f")
    # relative imports are the document's; the project records them relative to itself
    doc = doc.with_imports([parse_ref(i, base, target).recorded for i in doc.imports]) \
        if "imports" in doc.data else doc
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
        Lock(runtime.version, engine_sha256="" if runtime.own else runtime.sha256).write(
            project.lock_file)
        installer = Installer(project, step=step, echo=echo, base=base, home=target)
        changes = installer.install(list(dict.fromkeys([*bundle, *app.doc.imports])))
        missing = _bundled_for_unprovided_types(app, project)
        if missing:
            changes += installer.install(missing)
        require_valid(app.text, app.source, [project.vendor_dir])
        if target.exists():
            target.rmdir()
        root.rename(target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Created(EngineProject(target), runtime.version, changes)


def _bundled_for_unprovided_types(app: AppSource, project: EngineProject) -> list[str]:
    """Bundled contributions providing a node type the flows use that nothing installed
    provides (flogo's create installs every contribution the app refers to)."""
    try:
        config = require_valid(app.text, app.source)
    except ConfigError:
        return []
    provided = {(c.kind, c.name) for c in project.lock().contributions}
    offered = bundled_types()
    wanted = []
    for flow in config.flows:
        for node in (*flow.triggers, *flow.tasks):
            kind = node.class_
            if kind in ("trigger", "task") and node.type and (kind, node.type) not in provided \
                    and (kind, node.type) in offered:
                wanted.append(offered[(kind, node.type)])
    return list(dict.fromkeys(wanted))


def _is_relative(ref: str) -> bool:
    return ref.startswith(("./", "../")) or ref in (".", "..")

