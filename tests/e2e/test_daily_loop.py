"""The daily loop of a CI user in headless chromium: re-run from the failed node, re-run with
the same inputs, artifacts, honest states and reasons, the waiting-for-input banner; and the
README's screenshots, taken from the default app."""

from __future__ import annotations

import re
import signal
from datetime import datetime
from pathlib import Path

import flows
from browsing import PHONE
from flows import RELEASE, data_trigger, flow, one_task, task
from harness import wait_until
from playwright.sync_api import expect
from servertest import ADMIN, run_view, start_run, wait_ended

ROOT = Path(__file__).resolve().parents[2]


def app(tmp_path: Path) -> str:
    count, gate = tmp_path / "count", tmp_path / "gate"
    ci = flow(
        "ci",
        task("build", shell=(
            f"echo building; echo built >> {count}; printf 'tgz\\001\\002bytes' > build.tgz; "
            "mkdir -p reports; echo fine > reports/unit.txt; ln -s /etc/hostname leak; "
            "ln -s /etc/hostname reports/leak")),
        task("test", shell=f"test -e {gate} || {{ echo missing {gate}; exit 1; }}",
             listen="task.build.good"),
        task("deploy", shell="echo deployed", listen="task.test.good"),
        artifacts=["build.tgz", "reports/"], retention={"workspaces": 2},
        triggers=[data_trigger(title="Start CI",
                               fields=[{"id": "ref", "prompt": "Git ref", "type": "text"}])])
    slow = one_task("slow", shell="echo waiting; sleep 120", task_id="wait")
    return flows.app(ci, slow, RELEASE, store_type="local")


def node(page, nid: str):
    return page.locator(f'#run-graph [data-node="{nid}"]')


def row(page, nid: str):
    return page.locator(f'#nodes tr[data-node="{nid}"]')


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def above(upper, lower) -> bool:
    """`upper` is drawn wholly above `lower` on the page."""
    a, b = upper.bounding_box(), lower.bounding_box()
    return a["y"] + a["height"] <= b["y"]


def login_admin(b, path: str) -> None:
    b.login(user="admin", password=ADMIN, path=path)  # the -admin token as the password


def test_rerun_from_the_failed_node_then_with_the_same_inputs(start_engine, browse, tmp_path):
    engine = start_engine(app(tmp_path))
    with engine.client() as c:
        first = start_run(c, "ci", {"ref": "main"})
        view = wait_ended(c, "ci", first)
    assert view["Summary"]["State"] == "bad"
    b = browse(engine)
    page = b.page
    login_admin(b, f"/app/flows/ci/runs/{first}")
    expect(page.locator("#run-status")).to_have_text("bad")
    expect(page.locator("#run-result")).to_have_text("Result: bad — test failed (exit 1)")
    expect(page.locator("#engine-reason")).to_have_text("task.test.bad was not handled")
    expect(page.locator("#run-inputs")).to_contain_text("ref: main")
    expect(node(page, "start")).to_have_attribute("data-status", "good")  # the trigger fired
    expect(node(page, "test")).to_have_attribute("data-status", "bad")

    (tmp_path / "gate").touch()  # the missing file the test needs
    page.get_by_role("button", name="Re-run from test").click()
    expect(page).to_have_url(re.compile(r"/app/flows/ci/runs/h1-2$"))
    expect(page.locator("#run-status")).to_have_text("good")
    expect(page.locator("#run-rerun-of")).to_contain_text(f"Re-run of{first} from test by admin")
    expect(row(page, "build")).to_have_attribute("data-carried", first)
    expect(row(page, "build")).to_contain_text(f"carried over from {first}")
    expect(node(page, "build")).to_have_attribute("data-status", "carried")
    expect(node(page, "build")).to_contain_text("carried over")
    expect(node(page, "deploy")).to_have_attribute("data-status", "good")
    assert (tmp_path / "count").read_text() == "built\n"  # build ran once, in the first run
    node(page, "build").click()  # its log is the original run's, by reference
    expect(page.locator("#carried-note")).to_contain_text(f"Carried over from run {first}")
    expect(page.locator("#log pre")).to_contain_text("building")

    page.get_by_role("button", name="Re-run", exact=True).click()  # the same inputs, all again
    expect(page).to_have_url(re.compile(r"/app/flows/ci/runs/h1-3$"))
    expect(page.locator("#run-status")).to_have_text("good")
    expect(page.locator("#run-rerun-of")).to_contain_text("with the same inputs")
    expect(page.locator("#run-inputs")).to_contain_text("ref: main")
    assert (tmp_path / "count").read_text() == "built\nbuilt\n"

    # the artifact downloads from the run page, byte for byte
    artifact = page.locator('#artifacts a[data-artifact="build.tgz"]')
    with page.expect_download() as got:
        artifact.click()
    assert Path(got.value.path()).read_bytes() == b"tgz\x01\x02bytes"
    page.locator("#artifacts").get_by_role("button", name="reports/").click()
    expect(page.locator('[data-file="reports/unit.txt"]')).to_be_visible()
    with engine.client() as c:
        r = c.get("/flows/ci/runs/h1-3/files/reports/unit.txt")
        assert r.status_code == 200 and r.content == b"fine\n"
        assert "attachment" in r.headers["content-disposition"]
        assert c.get("/flows/ci/runs/h1-3/files/leak").status_code == 404  # symlink out
        assert c.get("/flows/ci/runs/h1-3/files/%2E%2E/h1-1/build.tgz").status_code == 404
        assert c.get("/flows/ci/runs/h1-3/files//etc/hostname").status_code == 404
        listing = c.get("/flows/ci/runs/h1-3/files").json()["Payload"]
        assert "leak" not in [e["Name"] for e in listing["Entries"]]
        assert run_view(c, "ci", first)["Summary"]["Why"] == "test failed (exit 1)"

    # the flow's run list: each run's inputs, and what a re-run re-runs
    page.get_by_role("link", name="← ci").click()
    runs = page.locator("#runs")
    expect(runs.locator(f'[data-run="{first}"]')).to_contain_text("ref: main")
    expect(runs.locator('[data-run="h1-2"]')).to_contain_text(f"re-run of {first} from test")
    expect(runs.locator('[data-run="h1-3"]')).to_contain_text("re-run of h1-2")
    expect(runs.locator('[data-run="h1-3"] [data-inputs]')).to_have_text("ref: main")
    assert not b.console_errors, b.console_errors

    # retention (the newest 2 runs keep their workspaces) prunes the original's once h1-3
    # has ended: a re-run from test is refused, saying why
    spaces = next(engine.root.rglob("spaces/ci/ws"))
    assert (spaces / "h1-3").is_dir()
    wait_until(lambda: not (spaces / first).exists(), 30, f"retention to prune {first}'s")
    page.goto(f"/app/flows/ci/runs/{first}")
    page.get_by_role("button", name="Re-run from test").click()
    expect(page.locator("#rerun-error")).to_contain_text(
        f"cannot re-run {first} from test: its workspace is gone")
    expect(page).to_have_url(re.compile(rf"/runs/{first}$"))
    # the flow's artifacts outlived the workspace
    expect(page.locator("#files-where")).to_have_text(
        "The workspace is gone; its artifacts were kept.")
    with page.expect_download() as got:
        page.locator('#artifacts a[data-artifact="build.tgz"]').click()
    assert Path(got.value.path()).read_bytes() == b"tgz\x01\x02bytes"
    with engine.client() as c:  # a kept directory's link out is still not followed
        kept = c.get(f"/flows/ci/runs/{first}/files/reports").json()["Payload"]
        assert [e["Name"] for e in kept["Entries"]] == ["unit.txt"] and kept["KeptOnly"]
        assert c.get(f"/flows/ci/runs/{first}/files/reports/leak").status_code == 404
    # the browser logs the refused request itself (the re-run: 409)
    assert all(re.search(r"status of (404|409)", e) for e in b.console_errors), b.console_errors


def live_app(gate1: Path, gate2: Path) -> str:
    def until(gate: Path) -> str:  # good once `gate` is there, bad after a minute
        return f"for i in $(seq 600); do test -e {gate} && exit; sleep 0.1; done; exit 1"
    return flows.app(flow("live", task("quick", shell="echo quick"),
                          task("slow", shell=until(gate1)),
                          task("last", shell=until(gate2), listen="task.slow.good")),
                     store_type="local")


def test_a_click_and_focus_survive_the_live_redraw_under_them(start_engine, browse, tmp_path):
    # The graph is redrawn whenever the run moves. A user whose press lands before a redraw
    # and whose release lands after it clicked, and a node focused from the keyboard stays so.
    gate1, gate2 = tmp_path / "gate1", tmp_path / "gate2"
    engine = start_engine(live_app(gate1, gate2))
    with engine.client() as c:
        rid = start_run(c, "live")
    b = browse(engine)
    page = b.page
    login_admin(b, f"/app/flows/live/runs/{rid}")
    expect(node(page, "quick")).to_have_attribute("data-status", "good")
    expect(node(page, "slow")).to_have_attribute("data-status", "running")
    box = node(page, "quick").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    gate1.touch()
    expect(node(page, "slow")).to_have_attribute("data-status", "good")  # redrawn under the press
    page.mouse.up()
    detail = page.get_by_role("region", name="selected node")
    expect(detail.get_by_role("heading", level=2)).to_have_text("quick")
    expect(node(page, "quick")).to_be_focused()
    gate2.touch()
    expect(node(page, "last")).to_have_attribute("data-status", "good")
    expect(page.locator("#run-status")).to_have_text("good")
    expect(node(page, "quick")).to_be_focused()
    expect(detail.get_by_role("heading", level=2)).to_have_text("quick")


def test_stop_asks_and_says_who_and_the_waiting_banner(start_engine, browse, tmp_path):
    engine = start_engine(app(tmp_path))
    with engine.client() as c:
        slow = start_run(c, "slow")
    b = browse(engine)
    page = b.page
    login_admin(b, f"/app/flows/slow/runs/{slow}")
    expect(page.locator("#run-status")).to_have_text("running")
    page.get_by_role("button", name="Stop run").click()
    confirm = page.locator("#stop-confirm")
    expect(confirm).to_contain_text(f"Stop run {slow}?")
    page.get_by_role("button", name="Keep it running").click()  # asked, and declined
    expect(confirm).to_be_hidden()
    expect(page.locator("#run-status")).to_have_text("running")
    page.get_by_role("button", name="Stop run").click()
    page.get_by_role("button", name="Yes, stop it").click()
    expect(page.locator("#run-status")).to_have_text("stopped")
    expect(page.locator("#run-result")).to_have_text("Result: stopped — stopped by admin")
    # the task it killed reads stopped too, not the red "bad" of a failure
    expect(node(page, "wait")).to_have_attribute("data-status", "stopped")
    expect(node(page, "wait")).to_contain_text("stopped")
    expect(row(page, "wait").locator(".badge")).to_have_text("stopped")
    with engine.client() as c:
        summary = run_view(c, "slow", slow)["Summary"]
        assert (summary["State"], summary["StoppedBy"], summary["Reason"]) == (
            "stopped", "admin", "stopped")
    # by whom and when, in the details with the engine's own word
    details = page.locator("#run-details")
    details.locator("summary").click()
    expect(details).to_contain_text("Engine reason: stopped")
    expect(details).to_contain_text("Stopped by admin at")
    when = details.locator("time").get_attribute("datetime")
    ended = parse_time(summary["EndTime"])  # the browser keeps milliseconds
    assert abs((parse_time(when) - ended).total_seconds()) < 0.001, (when, summary["EndTime"])
    with engine.client() as c:
        release = start_run(c, "release")

    page.goto("/app/dash")
    banner = page.locator(f'[data-waiting="{release}/sign-off"]')
    expect(banner).to_contain_text("Waiting for input: Sign off")
    expect(page.locator(f'[data-flow="slow"] [data-run="{slow}"]')).to_have_attribute(
        "data-state", "stopped")
    assert above(banner, page.locator("#flows"))  # at the top, over every flow's card
    banner.get_by_role("link", name="Sign off").click()
    expect(page).to_have_url(re.compile(rf"/app/flows/release/runs/{release}\?node=sign-off$"))
    expect(page.locator("#run-waiting")).to_contain_text("Waiting for input: Sign off")
    assert above(page.locator("#run-waiting"), page.locator("#run-status"))
    form = page.locator("#form-sign-off")
    expect(form).to_be_in_viewport()
    form.get_by_label("Approved by").fill("ann")
    form.get_by_role("button", name="Submit").click()
    expect(page.locator("#run-status")).to_have_text("good")
    expect(page.locator("#run-waiting")).to_be_empty()
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator(f'[data-flow="release"] [data-run="{release}"]')).to_have_attribute(
        "data-status", "good")
    expect(page.locator("[data-waiting]")).to_have_count(0)
    assert not b.console_errors, b.console_errors


def test_keep_a_run_from_its_page(start_engine, browse, tmp_path):
    # A kept run is one retention never removes: the run page marks and unmarks it.
    engine = start_engine(app(tmp_path))
    with engine.client() as c:
        run = start_run(c, "release")  # any ended run: stop it at its form
        wait_until(lambda: run_view(c, "release", run)["Graph"][1][0]["Enabled"],
                   what="the sign-off form")
        assert c.post(f"/flows/release/runs/{run}/stop").status_code == 200
        assert run_view(c, "release", run)["Kept"] is False
    b = browse(engine)
    page = b.page
    login_admin(b, f"/app/flows/release/runs/{run}")
    keep = page.locator("#keep")
    expect(keep).to_have_text("Keep")
    keep.click()
    expect(keep).to_have_text("Kept · unkeep")
    with engine.client() as c:
        assert run_view(c, "release", run)["Kept"] is True
    page.reload()
    expect(keep).to_have_text("Kept · unkeep")  # from the engine, not the page's memory
    keep.click()
    expect(keep).to_have_text("Keep")
    with engine.client() as c:
        assert run_view(c, "release", run)["Kept"] is False
    assert not b.console_errors, b.console_errors


def test_login_footer_and_a_missing_run(start_engine, browse, tmp_path):
    engine = start_engine(app(tmp_path))
    b = browse(engine)
    page = b.page
    page.goto("/app/login")
    expect(page.locator("#login-how")).to_contain_text("user admin with the engine's admin token")
    from floecli import __version__

    expect(page.locator("#footer")).to_have_text(f"floe {__version__}")
    login_admin(b, "/app/flows/ci/runs/h1-99")
    expect(page.locator("#run-error")).to_have_text("There is no run h1-99 of flow ci.")
    expect(page.get_by_text("There is no run h1-99 of flow ci.")).to_have_count(1)
    expect(page.locator("main h2")).to_have_count(0)  # no empty sections under it


def photograph(page, path: Path) -> None:
    page.evaluate("document.getElementById('notices').replaceChildren()")  # passing toasts
    page.screenshot(path=path)


def test_readme_screenshots_of_the_default_app(start_engine, browse, screenshots):
    engine = start_engine((ROOT / "default-app.json").read_text())
    b = browse(engine)
    page = b.page
    login_admin(b, "/app/flows/build-project")
    expect(page.locator('#flow-graph [data-node="checks"]')).to_be_visible()
    photograph(page, screenshots / "flow.png")
    page.get_by_label("Branch or tag").fill("main")
    page.get_by_role("button", name="Start run").click()
    expect(page).to_have_url(re.compile(r"/app/flows/build-project/runs/h1-1$"))
    expect(page.locator("#run-status")).to_have_text("good")
    node(page, "unit-tests").click()
    expect(page.locator("#log pre")).to_contain_text("test 3 ok")
    expect(page.locator('#artifacts a[data-artifact="build.tgz"]')).to_be_visible()
    photograph(page, screenshots / "run.png")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator('[data-run="h1-1"]')).to_have_attribute("data-status", "good")
    expect(page.locator('[data-run="h1-1"]')).to_contain_text("ref: main")
    photograph(page, screenshots / "dash.png")
    assert not b.console_errors, b.console_errors


ENDED = ("good", "bad", "stopped", "interrupted", "host lost")


def test_every_ended_state_has_its_own_word_and_look(start_engine, browse, tmp_path):
    # A run cut off by an engine that died, whose flow changed meanwhile, is "interrupted":
    # its own word and look on the dashboard, never the red "bad" of a failure.
    slow = one_task("slow", shell="echo waiting; sleep 120", task_id="wait")
    first = start_engine(flows.app(slow, store_type="local"))
    with first.client() as c:
        run = start_run(c, "slow")
        # its process ran: its first line is in (the node shows "running" from the moment
        # its start is written, which may be before that write is committed)
        wait_until(lambda: "waiting" in run_view(c, "slow", run)["Graph"][0][0]["Logs"],
                   what="the task's process to start")
    first.stop(signal.SIGKILL)
    engine = start_engine(flows.app({**slow, "ver": 2}, store_type="local"))
    with engine.client() as c:
        summary = wait_ended(c, "slow", run)["Summary"]
    assert summary["State"] == "interrupted", summary
    b = browse(engine)
    page = b.page
    login_admin(b, "/app/dash")
    shown = page.locator(f'[data-flow="slow"] [data-run="{run}"]')
    expect(shown).to_have_attribute("data-state", "interrupted")
    expect(shown.locator(".badge")).to_have_text("interrupted")
    expect(shown.locator(".reason")).to_contain_text("interrupted: flow slow ver 1 is no longer")
    shown.get_by_role("link", name=run).click()
    expect(page.locator("#run-status")).to_have_text("interrupted")
    expect(node(page, "wait")).to_have_attribute("data-status", "interrupted")  # cut off with it
    expect(row(page, "wait").locator(".badge")).to_have_text("interrupted")
    page.get_by_role("link", name="Dashboard").click()

    # Each of the five ended states, as the run lists draw them: five words, five looks.
    looks = page.evaluate("""async (states) => {
      const { runRow, runTable } = await import('/static/js/pages/dash.js');
      const rows = states.map((s, i) => runRow('f', { Ref: { Run: { HostID: 'h1', ID: i + 1 } },
        Ended: true, Status: 'finished', State: s, Why: `why ${s}`, StartTime: '', EndTime: '' }));
      const table = runTable(rows, '');
      table.id = 'states';
      document.querySelector('main').append(table);
      return [...table.querySelectorAll('tbody .badge')].map((el) => {
        const css = getComputedStyle(el);
        return [el.textContent, [css.color, css.backgroundColor, css.borderStyle].join(' ')];
      });
    }""", list(ENDED))
    assert [word for word, _ in looks] == list(ENDED)
    assert len({look for _, look in looks}) == len(ENDED), looks
    reasons = page.locator("#states .reason")
    colours = reasons.evaluate_all("els => els.map((el) => getComputedStyle(el).color)")
    assert colours[1] not in colours[2:], colours  # bad is red; stopped and the rest are not
    assert not b.console_errors, b.console_errors


def test_a_phone_keeps_words_whole_in_tables(start_engine, browse, tmp_path):
    # On a phone a table scrolls sideways rather than breaking `running` into `runn|ing`.
    engine = start_engine(app(tmp_path))
    with engine.client() as c:
        first = start_run(c, "ci", {"ref": "refs/heads/main"})
        wait_ended(c, "ci", first)
        slow = start_run(c, "slow")
        wait_until(lambda: run_view(c, "slow", slow)["Graph"][0][0]["Status"] == "running",
                   what="the slow task to start")
    desk = browse(engine)
    login_admin(desk, "/app/dash")
    expect(desk.page.locator("#flows [data-run]").first).to_be_visible()
    phone = browse(engine, PHONE)
    phone.context.add_cookies(desk.context.cookies())
    for path in ("/app/dash", "/app/flows/ci", f"/app/flows/ci/runs/{first}",
                 f"/app/flows/slow/runs/{slow}"):
        phone.page.goto(path)
        expect(phone.page.locator("main td [data-status]").first).to_be_visible()
        # every word of every table cell (ids and paths in .mono may wrap) on one line
        broken = phone.page.evaluate(r"""() => {
          const out = [];
          for (const td of document.querySelectorAll('main td')) {
            const walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
            for (let t = walk.nextNode(); t; t = walk.nextNode()) {
              if (t.parentElement.closest('.mono')) continue;
              for (const m of t.data.matchAll(/\S+/g)) {
                const r = document.createRange();
                r.setStart(t, m.index);
                r.setEnd(t, m.index + m[0].length);
                const tops = new Set([...r.getClientRects()].map((q) => Math.round(q.top)));
                if (tops.size > 1) out.push(m[0]);
              }
            }
          }
          return out;
        }""")
        assert broken == [], f"{path} breaks {broken} on a {PHONE['width']}px phone"
    assert not phone.console_errors, phone.console_errors
