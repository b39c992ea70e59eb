"""The engine's event loop: uvloop where it is installed, asyncio's own loop otherwise.

Both are asyncio loops and the engine uses only asyncio's API on them. uvloop's is compiled:
during a burst of task starts a request waits behind less loop work (bench/api_bench.py
measures push/data at about 1.7 ms with it, 2.5 ms without). It has no Windows build, so it is
optional: the engine runs the same on asyncio's loop, and `-event_loop=asyncio` chooses that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .errors import FloeError

T = TypeVar("T")

CHOICES = ("auto", "uvloop", "asyncio")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class EventLoopError(FloeError):
    """The loop asked for is not available."""


def loop_factory(choice: str = "auto") -> LoopFactory | None:
    """What makes the engine's loop; None for asyncio's default."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise EventLoopError("-event_loop=uvloop: uvloop is not installed",
                                 hint="pip install uvloop, or use -event_loop=auto") from None
        return None
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """asyncio.run on the loop `choice` names."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
