"""floe: a workflow engine for long-running business processes, and its toolchain."""

from pathlib import Path

__version__ = "0.1.0"

_HERE = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """`bundles`, `engine_template`, `default-app.json` or `default-bundle.json`: kept at the
    top level of the repository (the design card), mapped into this package by the wheel."""
    packaged = _HERE / name
    return packaged if packaged.exists() else _HERE.parent / name


if not (_HERE / "bundles").is_dir() and (_HERE.parent / "bundles" / "__init__.py").is_file():
    # a source checkout (editable install): `floecli.bundles` is the top-level bundles/
    __path__.append(str(_HERE.parent))
