"""Entry point of an engine binary made by `floe build`: the engine with the contributions
packed beside this module, and the app document frozen in by `-e` if there is one.

It is copied into every binary as `floe_binary.py`; it imports only the engine runtime. As
flogo's engines do, a binary started with environment only finds its app document in
FLOE_CONFIG_PATH, else the embedded one, else ./app.json, else ../app.json (flogo-web starts
it from <engine>/bin-test); FLOE_LOG_LEVEL sets the log level."""

import os
import sys
from pathlib import Path


def main() -> None:
    from floecli.engine.main import main as engine_main

    # A zipapp unpacks beside this file; a PyInstaller binary unpacks into sys._MEIPASS.
    here = Path(getattr(sys, "_MEIPASS", "") or Path(__file__).resolve().parent)
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
    sys.exit(engine_main(argv, embedded_app=embedded, vendor=[here], builtin=False))


if __name__ == "__main__":
    main()
