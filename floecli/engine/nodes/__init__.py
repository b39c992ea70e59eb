"""The public contribution API: everything a task or trigger package may import from floe.

A task's `run()` returns its exit status; a trigger's `watch()` runs until cancelled. Two flags
on a task class ask the engine for a node kind of its own: `ends_run` (the `end` node: matched,
it ends the run instead of running) and `awaits_input` (the `data` node: returning
`NEEDS_INPUT` pauses the run until its form is pushed). See docs/contributions.md.
"""

from ..paths import PathOutside, inside, make_inside
from .api import (
    NEEDS_INPUT,
    BaseTask,
    Task,
    TaskContext,
    Trigger,
    TriggerContext,
    first_opt,
    get_opt,
)

__all__ = [
    "NEEDS_INPUT",
    "BaseTask",
    "PathOutside",
    "Task",
    "TaskContext",
    "Trigger",
    "TriggerContext",
    "first_opt",
    "get_opt",
    "inside",
    "make_inside",
]
