"""The hub: run state, dispatch, event routing and task execution."""

from .hub import Hub
from .state import ActiveRun, Origin

__all__ = ["ActiveRun", "Hub", "Origin"]
