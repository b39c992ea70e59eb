"""Entry point of an engine binary made by `floe build`: the engine with the contributions
packed beside this module, and the app document frozen in by `-e` if there is one.

It is copied into every binary as `floe_binary.py`; it imports only the engine runtime."""

import sys
from pathlib import Path


def main() -> None:
    from floecli.engine.main import main as engine_main

    # A zipapp unpacks beside this file; a PyInstaller binary unpacks into sys._MEIPASS.
    here = Path(getattr(sys, "_MEIPASS", "") or Path(__file__).resolve().parent)
    app = here / "floe_app.json"
    embedded = app.read_text(encoding="utf-8") if app.is_file() else ""
    sys.exit(engine_main(sys.argv[1:], embedded_app=embedded, vendor=[here], builtin=False))


if __name__ == "__main__":
    main()
