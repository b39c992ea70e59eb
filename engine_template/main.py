"""Start the floe engine of this project: `python main.py [ENGINE FLAGS]` (see `floe run -h`).

Only the contributions in ./vendor are known to the engine, and ./app.json is the app document
unless -conf names another.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main() -> int:
    from floecli.engine.main import main as engine_main

    argv = sys.argv[1:]
    if not any(a == "-conf" or a.startswith("-conf=") for a in argv):
        argv = [f"-conf={ROOT / 'app.json'}", *argv]
    return engine_main(argv, vendor=[ROOT / "vendor"], builtin=False)


if __name__ == "__main__":
    sys.exit(main())
