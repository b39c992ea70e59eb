"""floe: a workflow engine for long-running business processes, and its toolchain."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__version__ = "0.1.0"

# os.path, not pathlib: every `floe` call imports this package first, `floe --version` nothing
# else, and pathlib would be a fifth of that call's time.
_HERE = os.path.dirname(os.path.realpath(__file__))
_ROOT = os.path.dirname(_HERE)


def data_path(name: str) -> Path:
    """`bundles`, `engine_template`, `default-app.json` or `default-bundle.json`: kept at the
    top level of the repository (the design card), mapped into this package by the wheel."""
    from pathlib import Path

    packaged = os.path.join(_HERE, name)
    return Path(packaged if os.path.exists(packaged) else os.path.join(_ROOT, name))


def _source_bundles() -> None:
    """In a source checkout (an editable install) `floecli.bundles` is the top-level bundles/
    directory, and only that: the repository root itself is never put on the package's path
    (a tool collecting `floecli.*` would otherwise find the whole checkout, .venv included)."""
    import importlib.util
    import sys

    init = os.path.join(_ROOT, "bundles", "__init__.py")
    spec = importlib.util.spec_from_file_location(
        "floecli.bundles", init, submodule_search_locations=[os.path.dirname(init)])
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["floecli.bundles"] = module
    globals()["bundles"] = module
    spec.loader.exec_module(module)


if not os.path.isdir(os.path.join(_HERE, "bundles")) and os.path.isfile(
        os.path.join(_ROOT, "bundles", "__init__.py")):
    _source_bundles()
