"""The timer trigger: period and cron schedules kept in the store across restarts (§3.8)."""

from __future__ import annotations

import textwrap
import time
from datetime import UTC, datetime

import pytest

from floecli.bundles.timer_trigger import Schedule, iso
from floecli.engine.config.loader import parse_app
from floecli.engine.contributions.registry import Registry
from floecli.engine.errors import ConfigError
from floecli.engine.store.sqlite import SqliteStore

KEY = "trigger/t/tick/schedule"


def app(opts: str, store: str = "memory") -> str:
    return f"""
    common:
      store-type: {store}
    flows:
      - id: t
        ver: 1
        triggers:
          - {{name: tick, type: timer, opts: {opts}}}
        tasks:
          - {{name: a, listen: trigger.good, type: exec, opts: {{cmd: "true"}}}}
    """


def fires(h):
    return [e for e in h.events if e.tag == "trigger.good"]


async def test_one_second_timer_starts_runs(engine_factory):
    h = await engine_factory(app("{period: 1}"))
    first = await h.wait_tag("trigger.good", timeout=10)
    second = await h.wait_for(lambda e: e.tag == "trigger.good" and e is not first, timeout=10)
    assert first.run_ref.run_id != second.run_ref.run_id
    assert "missed" not in first.opts
    await h.wait_tag("sys.end.all", second.run_ref.run_id)


async def test_restart_keeps_the_schedule(engine_factory):
    first = await engine_factory(app("{period: 1}", store="local"))
    await first.wait_tag("trigger.good", timeout=10)
    await first.engine.stop()
    store = SqliteStore(first.engine.store.path)
    store.open()
    saved = await store.get(KEY)
    await store.close()
    assert saved["spec"] == "period 1"

    second = await engine_factory(app("{period: 1}", store="local"))
    fired = await second.wait_tag("trigger.good", timeout=10)
    # the stored next time, not one period after this start
    assert fired.opts["due"] == iso(saved["next"])
    assert "missed" not in fired.opts
    assert len(fires(first)) + len(fires(second)) == len({e.opts["due"] for e in
                                                         fires(first) + fires(second)})


async def test_a_fire_missed_while_down_fires_once_on_start(engine_factory, tmp_path):
    store = SqliteStore(tmp_path / "root" / "store" / "floe.db")
    store.open()
    past = time.time() - 3600  # an hour of a 1-minute timer missed: one fire, not sixty
    store.put(KEY, {"spec": "period 60", "next": past})
    await store.close()

    h = await engine_factory(app("{period: 60}", store="local"))
    fired = await h.wait_tag("trigger.good", timeout=10)
    assert fired.opts["missed"] is True
    assert fired.opts["due"] == iso(past)
    assert "missed while the engine was down" in fired.opts["reason"]
    await h.wait_tag("sys.end.all", fired.run_ref.run_id)
    assert len(fires(h)) == 1


def test_cron_schedule_next_times():
    s = Schedule.from_opts({"cron": "30 2 * * 1"})  # Mondays 02:30 UTC
    t = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()  # a Tuesday
    assert datetime.fromtimestamp(s.next_after(t), UTC) == datetime(2026, 12, 7, 2, 30,
                                                                    tzinfo=UTC)
    assert Schedule.from_opts({"period": 5}).next_after(100.0) == 105.0
    assert Schedule.from_opts({}).period == 10.0  # the reference's default
    assert Schedule.from_opts({"period": "soon"}).period == 10.0


@pytest.mark.parametrize(("cron", "message"), [
    ("61 * * * *", "out of range"),
    ("* * *", "five fields"),
    ("0 0 * * * *", "five fields"),
    ("a b c d e", "is not acceptable"),
])
def test_bad_cron_is_a_config_error_with_its_line(cron, message):
    text = textwrap.dedent(app(f'{{cron: "{cron}"}}'))
    with pytest.raises(ConfigError) as e:
        parse_app(text, "app.yml", Registry.discover().catalog())
    [problem] = e.value.problems
    assert problem.line == 8
    assert problem.path == "flows[0].triggers[0].opts.cron"
    assert problem.message.startswith(f"bad cron expression '{cron}'")
    assert message in problem.message


def test_good_cron_loads():
    parse_app(textwrap.dedent(app('{cron: "*/5 * * * *"}')), "app.yml",
              Registry.discover().catalog())
    parse_app(textwrap.dedent(app('{cron: "@daily"}')), "app.yml",
              Registry.discover().catalog())
