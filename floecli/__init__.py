"""floe: a workflow engine for long-running business processes, and its toolchain."""

from pathlib import Path

__version__ = "0.1.0"

_HERE = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """`bundles`, `engine_template`, `default-app.json` or `default-bundle.json`: kept at the
    top level of the repository (the design card), mapped into this package by the wheel."""
    packaged = _HERE / name
    return packaged if packaged.exists() else _HERE.parent / name


def _source_bundles() -> None:
    """In a source checkout (an editable install) `floecli.bundles` is the top-level bundles/
    directory, and only that: the repository root itself is never put on the package's path
    (a tool collecting `floecli.*` would otherwise find the whole checkout, .venv included)."""
    import importlib.util
    import sys

    init = _HERE.parent / "bundles" / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        "floecli.bundles", init, submodule_search_locations=[str(init.parent)])
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["floecli.bundles"] = module
    globals()["bundles"] = module
    spec.loader.exec_module(module)


if not (_HERE / "bundles").is_dir() and (_HERE.parent / "bundles" / "__init__.py").is_file():
    _source_bundles()
