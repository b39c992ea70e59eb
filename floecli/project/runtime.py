"""The engine runtime a project builds with: by default the running toolchain's own engine
(packed once into a cached wheel), another version only from a wheel the user provides: a
path given to --cv, a directory or URL in FLOE_RUNTIME_FIND_LINKS, or the index in
FLOE_RUNTIME_INDEX_URL. Every wheel is checked to be ours before it is used; the public index
is never asked on its own, since the names there are not ours to trust."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import floecli
from floecli import __version__

from .errors import ProjectError
from .lockfile import RUNTIME_DIST
from .pip import Echo, PipError, run_pip

WHEEL_STEM = RUNTIME_DIST.replace("-", "_")
REQUIRED = ("floecli/__init__.py", "floecli/engine/__init__.py", "floecli/engine/main.py")
_EPOCH = (1980, 1, 1, 0, 0, 0)


class RuntimeNotFound(ProjectError):
    ref = "runtime-not-found"
    hint = "leave out --cv to use this floe's own runtime, or give --cv the path of its wheel"


class RuntimeNotOurs(ProjectError):
    ref = "runtime-not-ours"
    hint = "give --cv a floecli-engine wheel, or leave it out to use this floe's own runtime"


@dataclass(frozen=True)
class Runtime:
    version: str
    wheel: Path  # a verified wheel holding floecli/__init__.py and floecli/engine/
    own: bool  # the running toolchain's engine

    @property
    def sha256(self) -> str:
        return "sha256:" + hashlib.sha256(self.wheel.read_bytes()).hexdigest()


def cache_dir() -> Path:
    """`FLOE_CACHE_DIR` when set, else the user cache directory of floe."""
    override = os.environ.get("FLOE_CACHE_DIR", "")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("floe"))


def runtime_dir() -> Path:
    return cache_dir() / "runtime"


def requested_version(cv: str | None) -> str:
    """`--cv`, else `FLOE_LIB_VERSION`, else the running floe's version. A wheel path stays a
    path; a version loses a leading `v`."""
    text = (cv or os.environ.get("FLOE_LIB_VERSION", "") or __version__).strip()
    return text if _is_path(text) else text.lstrip("v")


def ensure_runtime(requested: str, *, echo: Echo | None = None) -> Runtime:
    """The runtime `requested` names (a version or a wheel path), verified and cached."""
    if _is_path(requested):
        wheel = Path(requested).expanduser().resolve()
        if not wheel.is_file():
            raise RuntimeNotFound(f"engine runtime wheel {requested} does not exist")
        version = verify_wheel(wheel)
        return Runtime(version, _cache(wheel), False)
    version = requested
    if version in (__version__, "latest"):
        return own_runtime()
    cached = runtime_dir() / f"{WHEEL_STEM}-{version}-py3-none-any.whl"
    if cached.is_file():
        verify_wheel(cached, version)
        return Runtime(version, cached, False)
    looked = [str(runtime_dir())]
    links = [x for x in os.environ.get("FLOE_RUNTIME_FIND_LINKS", "").split(os.pathsep) if x]
    for link in links:
        if "://" in link:
            continue
        looked.append(link)
        for wheel in sorted(Path(link).expanduser().glob(f"{WHEEL_STEM}-{version}-*.whl")):
            verify_wheel(wheel, version)
            return Runtime(version, _cache(wheel), False)
    index = os.environ.get("FLOE_RUNTIME_INDEX_URL", "")
    urls = [x for x in links if "://" in x]
    if index or urls:
        looked += [*urls, *([index] if index else [])]
        wheel = _download(version, index, urls, echo)
        if wheel is not None:
            return Runtime(version, wheel, False)
    raise RuntimeNotFound(
        f"engine runtime {RUNTIME_DIST} {version} not found (looked in {', '.join(looked)})",
        hint=f"this floe is {__version__}; for another version give --cv the path of a "
             f"{WHEEL_STEM}-{version}-py3-none-any.whl, or set FLOE_RUNTIME_FIND_LINKS (a "
             "directory of wheels) or FLOE_RUNTIME_INDEX_URL")


def own_runtime() -> Runtime:
    """The running toolchain's engine as a wheel, built once per content into the cache."""
    src = Path(floecli.__file__).resolve().parent
    files = [src / "__init__.py", *sorted(_engine_files(src / "engine"))]
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(src.parent).as_posix().encode() + b"\0" + f.read_bytes())
    wheel = runtime_dir() / "own" / h.hexdigest()[:16] / \
        f"{WHEEL_STEM}-{__version__}-py3-none-any.whl"
    if not wheel.is_file():
        wheel.parent.mkdir(parents=True, exist_ok=True)
        _write_wheel(wheel, __version__, {f.relative_to(src.parent).as_posix(): f.read_bytes()
                                          for f in files})
    return Runtime(__version__, wheel, True)


def verify_wheel(wheel: Path, version: str | None = None) -> str:
    """The version of a wheel that is our engine runtime (its metadata names
    floecli-engine and it holds floecli/engine); RuntimeNotOurs otherwise."""
    try:
        with zipfile.ZipFile(wheel) as z:
            names = set(z.namelist())
            meta = next((n for n in names if n.endswith(".dist-info/METADATA")
                         and n.count("/") == 1), "")
            text = z.read(meta).decode("utf-8", "replace") if meta else ""
    except (OSError, zipfile.BadZipFile) as e:
        raise RuntimeNotOurs(f"{wheel} is not a wheel: {e}") from None
    headers = dict(line.split(":", 1) for line in text.split("\n\n", 1)[0].splitlines()
                   if ":" in line)
    name = headers.get("Name", "").strip()
    found = headers.get("Version", "").strip()
    missing = [n for n in REQUIRED if n not in names]
    if name.lower().replace("_", "-") != RUNTIME_DIST or missing:
        what = f"its metadata names {name or 'nothing'!r}" if name.lower().replace(
            "_", "-") != RUNTIME_DIST else f"it lacks {', '.join(missing)}"
        raise RuntimeNotOurs(f"{wheel} is not floe's engine runtime: {what}",
                             hint=f"floe's runtime is the {RUNTIME_DIST} distribution; the "
                                  "name floe on the package index is another project")
    if version is not None and found != version:
        raise RuntimeNotOurs(f"{wheel} holds {RUNTIME_DIST} {found}, not {version}")
    return found


def _cache(wheel: Path) -> Path:
    dest = runtime_dir() / wheel.name
    if dest.resolve() != wheel.resolve():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wheel, dest)
    return dest


def _download(version: str, index: str, urls: list[str], echo: Echo | None) -> Path | None:
    with tempfile.TemporaryDirectory(prefix="floe-runtime-") as tmp:
        args = ["download", "--no-deps", "--only-binary=:all:", "-d", tmp,
                f"{RUNTIME_DIST}=={version}"]
        args += ["--index-url", index] if index else ["--no-index"]
        args += [f"--find-links={u}" for u in urls]
        try:
            run_pip(args, echo=echo)
        except PipError:
            return None
        for wheel in sorted(Path(tmp).glob("*.whl")):
            verify_wheel(wheel, version)
            return _cache(wheel)
    return None


def _is_path(text: str) -> bool:
    return text.endswith(".whl") or "/" in text or text.startswith(("~", "."))


def _engine_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and not p.name.endswith((".pyc", ".pyo"))]


def _write_wheel(out: Path, version: str, files: dict[str, bytes]) -> None:
    """A reproducible pure-Python wheel of `files` (fixed timestamps, sorted entries)."""
    info = f"{WHEEL_STEM}-{version}.dist-info"
    files = dict(files)
    files[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {RUNTIME_DIST}\n"
                                 f"Version: {version}\n").encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: floe\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n")
    record = []
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in sorted(files):
            data = files[rel]
            z.writestr(zipfile.ZipInfo(rel, _EPOCH), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{rel},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        z.writestr(zipfile.ZipInfo(f"{info}/RECORD", _EPOCH), "\n".join(record) + "\n")
    os.replace(tmp, out)
