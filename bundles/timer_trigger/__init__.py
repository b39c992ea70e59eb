"""The `timer` trigger: a run every `period` seconds or at each time of a `cron` expression.

The next fire time lives in the store, so a restart neither fires twice nor skips silently:
a fire missed while the engine was down happens once at start, with `missed: true`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from floecli.engine.nodes import TriggerContext, get_opt

DEFAULT_PERIOD = 10.0  # the reference's when opts.period is not a number
STATE_KEY = "schedule"


@dataclass(frozen=True)
class Schedule:
    period: float = 0.0
    cron: str = ""

    @classmethod
    def from_opts(cls, opts: Mapping[str, Any]) -> Schedule:
        cron = str(get_opt(opts, "cron", "") or "").strip()
        if cron:
            return cls(cron=cron)
        value = get_opt(opts, "period", None)
        try:
            period = float(value) if value is not None and not isinstance(value, bool) else 0.0
        except (TypeError, ValueError):
            period = 0.0
        return cls(period=period if period > 0 else DEFAULT_PERIOD)

    @property
    def spec(self) -> str:
        """What the stored next time was computed from: a changed schedule starts afresh."""
        return f"cron {self.cron}" if self.cron else f"period {self.period:g}"

    def next_after(self, t: float) -> float:
        if not self.cron:
            return t + self.period
        from croniter import croniter  # a dependency of the engine; only cron timers use it

        return float(croniter(self.cron, datetime.fromtimestamp(t, UTC)).get_next(float))


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class TimerTrigger:
    async def watch(self, ctx: TriggerContext) -> None:
        try:
            schedule = Schedule.from_opts(ctx.opts)
            schedule.next_after(time.time())
        except ValueError as e:  # the config check catches this first; a stored app may not
            ctx.report(f"bad cron expression {schedule_text(ctx.opts)!r}: {e}")
            return
        started = time.time()
        stored = await ctx.load(STATE_KEY)
        due = _stored_due(stored, schedule)
        if due is None:
            due = schedule.next_after(started)
            ctx.save(STATE_KEY, {"spec": schedule.spec, "next": due})
        missed = due < started
        while True:
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            fired = due
            # One fire however many were missed; the next is in the future, saved before
            # firing so a crash now cannot fire this one twice.
            due = schedule.next_after(max(time.time(), fired))
            ctx.save(STATE_KEY, {"spec": schedule.spec, "next": due})
            opts: dict[str, Any] = {"due": iso(fired)}
            if missed:
                opts.update(missed=True, reason=f"the fire due at {iso(fired)} was missed "
                                                "while the engine was down")
                missed = False
            ctx.fire(opts)
            ctx.report("")


def schedule_text(opts: Mapping[str, Any]) -> str:
    return str(get_opt(opts, "cron", "") or get_opt(opts, "period", ""))


def _stored_due(stored: Any, schedule: Schedule) -> float | None:
    if not isinstance(stored, Mapping) or stored.get("spec") != schedule.spec:
        return None
    value = stored.get("next")
    return float(value) if isinstance(value, int | float) else None
