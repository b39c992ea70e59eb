"""The `data` task: a form the run waits on until all its fields have values (§2.7)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from floecli.engine.nodes import NEEDS_INPUT, BaseTask, TaskContext, get_opt


class Data(BaseTask):
    awaits_input: ClassVar[bool] = True

    async def run(self, ctx: TaskContext) -> int:
        form = get_opt(ctx.opts, "form", None)
        values = {k: v for k, v in ctx.input.items() if isinstance(v, str)}
        if form is None:
            ctx.output(form=None, values=values)
            return 0
        if not isinstance(form, Mapping):
            ctx.log(f"form must be a mapping, not {type(form).__name__}")
            return 1
        filled, complete = fill_form(form, values)
        ctx.output(form=filled, values=values)
        return 0 if complete else NEEDS_INPUT


def fill_form(form: Mapping[str, Any], values: Mapping[str, str]) -> tuple[dict[str, Any], bool]:
    """Copy the form with each field's value set from `values`; complete when every field
    id has a value (an empty string counts, as in the reference)."""
    filled = copy.deepcopy(dict(form))
    complete = True
    fields = get_opt(filled, "fields", None) or []
    for field in fields:
        if not isinstance(field, dict):
            continue
        fid = str(get_opt(field, "id", ""))
        if fid in values:
            field["value"] = values[fid]
        else:
            complete = False
    return filled, complete
