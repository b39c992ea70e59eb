"""The public contribution API: everything a task or trigger package may import from floe."""

from ..paths import PathOutside, inside, make_inside  # noqa: F401  (for contributions)
from .api import (
    NEEDS_INPUT,
    BaseTask,
    Task,
    TaskContext,
    Trigger,
    TriggerContext,
    get_opt,
)
from .descriptor import Descriptor, read_descriptor
from .registry import Contribution, Registry

__all__ = [
    "NEEDS_INPUT",
    "BaseTask",
    "Contribution",
    "Descriptor",
    "Registry",
    "Task",
    "TaskContext",
    "Trigger",
    "TriggerContext",
    "get_opt",
    "read_descriptor",
]
