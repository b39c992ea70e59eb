"""Installing, updating and uninstalling contributions in a project's vendor/."""

from .installer import Change, Installer, Step

__all__ = ["Change", "Installer", "Step"]
