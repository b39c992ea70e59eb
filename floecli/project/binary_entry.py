"""Entry point of an engine binary made by `floe build`: the engine with the contributions
packed below this module, and the app document frozen in by `-e` if there is one.

It is copied into every binary as `floe_binary.py`; it imports only the engine runtime. As
flogo's engines do, a binary started with environment only finds its app document in
FLOE_CONFIG_PATH, else the embedded one, else ./app.json, else ../app.json (flogo-web starts
it from <engine>/bin-test); FLOE_LOG_LEVEL (or FLOGO_LOG_LEVEL) sets the log level.

The engine runtime comes first on sys.path and the contributions' directory (floe_vendor/)
after it; PYTHONPATH and the user's site-packages are left out unless FLOE_USE_PYTHONPATH=1,
so nothing outside the binary shadows what it was built and verified with. Old unpacked
copies of the binary (shiv keeps one per build under ~/.shiv) are pruned at start, keeping
the newest few.
"""

import contextlib
import os
import shutil
import site
import sys
from pathlib import Path

VENDOR_DIR = "floe_vendor"
KEEP_UNPACKED = 3  # unpacked builds of one binary kept in ~/.shiv (SHIV_ROOT), this one included


def main() -> None:
    # A zipapp unpacks beside this file; a PyInstaller binary unpacks into sys._MEIPASS.
    here = Path(getattr(sys, "_MEIPASS", "") or Path(__file__).resolve().parent)
    _isolate(here)
    from floecli.engine.main import main as engine_main

    if not getattr(sys, "_MEIPASS", ""):
        _prune_unpacked(here)
    app = here / "floe_app.json"
    embedded = app.read_text(encoding="utf-8") if app.is_file() else ""
    argv = sys.argv[1:]
    if not any(a == "-conf" or a.startswith("-conf=") for a in argv):
        conf = os.environ.get("FLOE_CONFIG_PATH", "")
        if not conf and not embedded and not any(
                Path(n).is_file() for n in ("app.json", "config.yml", "default.yml")) \
                and Path("..", "app.json").is_file():
            conf = str(Path("..", "app.json"))
        if conf:
            argv = [f"-conf={conf}", *argv]
    sys.exit(engine_main(argv, embedded_app=embedded, vendor=[here / VENDOR_DIR],
                         builtin=False))


def _isolate(here: Path) -> None:
    """sys.path: the binary's own site-packages (the engine runtime and its dependencies)
    first, the interpreter's own paths after it, the contributions last (the engine adds
    them); PYTHONPATH's directories and the user site-packages only when asked."""
    if os.environ.get("FLOE_USE_PYTHONPATH", "").strip().lower() in ("1", "true", "yes"):
        return  # asked for: Python's own order, PYTHONPATH first
    outside = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
               if p}
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else ""
    if isinstance(user, str) and user:
        outside.add(os.path.abspath(user))
    mine = str(here)
    rest = [p for p in sys.path if p and os.path.abspath(p) not in outside
            and os.path.abspath(p) != mine]
    sys.path[:] = [mine, *rest]
    # Anything already imported from a left-out directory would stay in use: drop it.
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) or ""
        if file and any(os.path.abspath(file).startswith(d + os.sep) for d in outside):
            del sys.modules[name]


def _prune_unpacked(here: Path) -> None:
    """Remove all but the KEEP_UNPACKED most recently started unpacked builds of this
    binary's name from shiv's root (this one is always kept). Best effort: a copy in use
    elsewhere may fail to go, and is tried again next time."""
    unpacked = here.parent  # <root>/<name>_<build id>/site-packages
    root = unpacked.parent
    name, sep, _build = unpacked.name.rpartition("_")
    if not sep or not name:
        return
    # the newest is the last started: an older build started again is kept too
    with contextlib.suppress(OSError):
        os.utime(unpacked)
    try:
        copies = [d for d in root.iterdir() if d.is_dir() and d.name.rpartition("_")[0] == name
                  and (d / "site-packages").is_dir()]
    except OSError:
        return
    others = sorted((d for d in copies if d != unpacked), key=lambda d: d.stat().st_mtime,
                    reverse=True)
    for old in others[KEEP_UNPACKED - 1:]:
        shutil.rmtree(old, ignore_errors=True)
        for lock in root.glob(f".{old.name}*lock"):
            lock.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
