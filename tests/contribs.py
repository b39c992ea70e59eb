"""Making third-party contributions in tmp_path for tests: package directories and wheels
built by hand with zipfile (offline: no build backend, no index)."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

HELLO_TASK = '''\
"""A test contribution that uses its dependency."""

import {dep}

from floecli.engine.nodes import BaseTask, TaskContext


class Hello(BaseTask):
    async def run(self, ctx: TaskContext) -> int:
        ctx.log({dep}.GREETING)
        (ctx.workspace / "hello.txt").write_text({dep}.GREETING)
        return 0
'''


def descriptor(name: str, package: str, *, kind: str = "task", version: str = "1.0.0") -> str:
    return json.dumps({
        "name": name, "type": f"floe:{kind}", "version": version, "title": name,
        "description": f"the {name} test contribution", "homepage": "https://example.test",
        "main": f"{package}:Hello", "opts": {"type": "object"}, "outputs": {},
    }, indent=2)


def contribution_files(package: str, name: str, dep: str = "hellodep",
                       version: str = "1.0.0") -> dict[str, str]:
    return {f"{package}/__init__.py": HELLO_TASK.format(dep=dep),
            f"{package}/descriptor.json": descriptor(name, package, version=version)}


def make_dir(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def make_wheel(out: Path, name: str, version: str, files: dict[str, str],
               requires: tuple[str, ...] = ()) -> Path:
    """A pure-Python wheel pip installs offline from `--find-links out`."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = dict(files)
    files[f"{dist}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires))
    files[f"{dist}.dist-info/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: floe-tests\n"
                                       "Root-Is-Purelib: true\nTag: py3-none-any\n")
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{dist}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(wheel, "w") as z:
        for rel, text in sorted(files.items()):
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            z.writestr(rel, data)
            record.append(f"{rel},sha256={digest.decode()},{len(data)}")
        record.append(f"{dist}.dist-info/RECORD,,")
        z.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def make_hello_index(out: Path, version: str = "1.0.0", greeting: str = "hello from a dep"
                     ) -> Path:
    """`floe-hello` (contribution `hello`, task type `hello`) needing `hellodep`."""
    make_wheel(out, "hellodep", "1.0.0", {"hellodep/__init__.py": f"GREETING = {greeting!r}\n"})
    make_wheel(out, "floe-hello", version, contribution_files("hello", "hello", version=version),
               requires=("hellodep>=1",))
    return out


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and directory under root with a hash of its bytes, to compare trees."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def make_runtime_wheel(out: Path, version: str, *, name: str = "floecli-engine",
                       engine: bool = True) -> Path:
    """An engine runtime wheel of `version` made from this checkout's engine (so a binary
    built with it runs), under distribution `name`; `engine=False` leaves floecli/engine out."""
    import floecli

    src = Path(floecli.__file__).resolve().parent
    own = (src / "__init__.py").read_text()
    files = {"floecli/__init__.py": own.replace(f'__version__ = "{floecli.__version__}"',
                                                f'__version__ = "{version}"')}
    if engine:
        for path in sorted((src / "engine").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[path.relative_to(src.parent).as_posix()] = path.read_text()
    return make_wheel(out, name, version, files)
