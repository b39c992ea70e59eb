"""The hub: pends, dispatch, event routing and the life of runs."""

from .hub import ActiveRun, Hub

__all__ = ["ActiveRun", "Hub"]
