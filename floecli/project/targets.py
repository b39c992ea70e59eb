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
