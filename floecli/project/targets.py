"""Build targets (`linux_amd64`, `windows_amd64`, ...): their pip platform tags and output names."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass

# The pip platform tag a target's wheels are chosen by. pip widens each to the older tags the
# platform also runs (manylinux2014 → manylinux_2_17 and below, macosx_11_0 → universal2, ...).
PLATFORM_TAGS = {
    "linux_amd64": "manylinux2014_x86_64",
    "linux_arm64": "manylinux2014_aarch64",
    "darwin_amd64": "macosx_11_0_x86_64",
    "darwin_arm64": "macosx_11_0_arm64",
    "windows_amd64": "win_amd64",
    "windows_arm64": "win_arm64",
}

# platform.machine() spellings of the architectures we name Go-style
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_OS = {"linux": "linux", "darwin": "darwin", "win32": "windows"}


@dataclass(frozen=True)
class Target:
    os: str
    arch: str

    @property
    def name(self) -> str:
        return f"{self.os}_{self.arch}"

    @property
    def platform_tag(self) -> str:
        return PLATFORM_TAGS[self.name]

    @property
    def is_windows(self) -> bool:
        return self.os == "windows"

    def binary_name(self, project_name: str) -> str:
        return project_name + (".exe" if self.is_windows else "")


def host_target() -> Target:
    os_name = _OS.get(sys.platform, sys.platform)
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    return Target(os_name, arch)


def parse_target(text: str) -> Target:
    """`linux_amd64` → Target; anything else is a ValueError naming the known targets."""
    if text not in PLATFORM_TAGS:
        raise ValueError(f"unknown target {text!r}: use one of {', '.join(PLATFORM_TAGS)}")
    os_name, _, arch = text.partition("_")
    return Target(os_name, arch)


# Go's spellings (flogo-web passes GOOS/GOARCH) of what a target's name says
_GO_OS = {"linux": "linux", "darwin": "darwin", "windows": "windows"}
_GO_ARCH = {"amd64": "amd64", "arm64": "arm64", "x86_64": "amd64", "aarch64": "arm64"}

# The oldest Python a target's engine dependencies have wheels for, where that is newer than
# the engine's own 3.11 (no PyYAML or rpds-py wheel for windows_arm64 and cp311).
MIN_PYTHON = {"windows_arm64": (3, 12)}


def target_from_env(environ: dict[str, str] | None = None) -> Target | None:
    """The target `GOOS` and `GOARCH` choose, as flogo's build took them from the environment
    (either may be left out: this machine's then); None when neither is set."""
    import os

    env = os.environ if environ is None else environ
    goos, goarch = env.get("GOOS", "").strip().lower(), env.get("GOARCH", "").strip().lower()
    if not goos and not goarch:
        return None
    host = host_target()
    os_name = _GO_OS.get(goos, goos) if goos else host.os
    arch = _GO_ARCH.get(goarch, goarch) if goarch else host.arch
    name = f"{os_name}_{arch}"
    if name not in PLATFORM_TAGS:
        raise ValueError(f"GOOS={goos or '(unset)'} GOARCH={goarch or '(unset)'}: unknown "
                         f"target {name!r}: use one of {', '.join(PLATFORM_TAGS)}")
    return Target(os_name, arch)


def check_python_for(target: Target, python_version: str) -> None:
    """ValueError, naming the Python that works, when `target` cannot be built for it."""
    need = MIN_PYTHON.get(target.name)
    have = tuple(int(x) for x in python_version.split("."))
    if need and have < need:
        want = ".".join(map(str, need))
        raise ValueError(f"{target.name} cannot be built for Python {python_version}: the "
                         f"engine's dependencies have {target.name} wheels only for Python "
                         f"{want} or newer; use --python-version {want} (the binary then "
                         f"needs Python {want} on that machine)")
