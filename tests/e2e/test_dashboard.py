"""The dashboard in headless chromium: runs start from forms and update live from the websocket."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import flows
from browsing import PASSWORD_HASH, PHONE, USER
from flows import RELEASE, data_trigger, end, flow, merge, one_task, task
from playwright.sync_api import expect
from servertest import ADMIN, start_run, wait_ended
from test_disk_full import fill


def app(tmp_path: Path, store: str = "memory") -> str:
    gate = tmp_path / "gate"
    build = flow(
        "build",
        task("checkout", shell="echo checked out"),
        task("compile", shell=(f"echo compiling; until [ -e {gate} ]; do sleep 0.05; done; "
                               "echo compiled $((6*7)) units"), listen="task.checkout.good"),
        task("unit", shell="echo unit ok", listen="task.compile.good"),
        task("lint", shell="echo lint ok", listen="task.compile.good"),
        merge("checks", "task.unit.good", "task.lint.good"),
        end(listen="merge.checks.good"),
        name="build project",
        triggers=[data_trigger(title="Start a build",
                               fields=[{"id": "ref", "prompt": "Git ref", "type": "text"}])])
    slow = one_task("slow", shell="echo waiting; sleep 120", task_id="wait", name="slow job",
                    resource_tags=["db"])
    chatty = one_task("chatty", shell="seq 1 100000", task_id="talk")
    users = [{"name": name, "role": role, "password-hash": PASSWORD_HASH}
             for name, role in (("ann", "admin"), ("vic", "viewer"))]
    # log-lines: the chatty task's 100k lines all kept in the store
    return flows.app(build, RELEASE, slow, chatty, store_type=store, log_lines=200000,
                     users=users)


def photograph(page, path: Path) -> None:
    page.evaluate("document.getElementById('notices').replaceChildren()")  # passing toasts
    page.screenshot(path=path)


def node(page, nid: str):
    return page.locator(f'#run-graph [data-node="{nid}"]')


def test_start_a_run_and_watch_it_live(start_engine, browse, screenshots, tmp_path):
    engine = start_engine(app(tmp_path))
    b = browse(engine)
    page = b.page
    b.login(path="/app/flows/build")
    expect(page.get_by_role("heading", name="build project")).to_be_visible()
    expect(page.locator('#flow-graph [data-node="checks"]')).to_be_visible()

    page.get_by_label("Git ref").fill("main")
    page.get_by_role("button", name="Start run").click()
    expect(page).to_have_url(re.compile(r"/app/flows/build/runs/h1-1$"))
    expect(node(page, "checkout")).to_have_attribute("data-status", "good")
    expect(node(page, "compile")).to_have_attribute("data-status", "running")
    expect(page.locator("#run-status")).to_have_text("running")

    node(page, "compile").click()
    log = page.locator("#log pre")
    expect(log).to_contain_text("compiling")
    expect(log).not_to_contain_text("compiled 42 units")
    (tmp_path / "gate").touch()  # lets the task write its next line
    expect(log).to_contain_text("compiled 42 units")
    for nid in ("compile", "unit", "lint", "checks"):
        expect(node(page, nid)).to_have_attribute("data-status", "good")
    expect(page.locator("#run-status")).to_have_text("good")
    expect(page.locator("#run-result")).to_have_text("Result: good")
    expect(page.locator('[data-wait="task.unit.good"]')).to_have_attribute("data-seen", "true")
    node(page, "unit").focus()  # graph nodes are reachable from the keyboard
    page.keyboard.press("Enter")
    expect(log).to_contain_text("unit ok")
    # the run's trigger form, who sent it and what
    expect(page.locator('[data-submission="start"] .who-cell')).to_have_text(USER)
    expect(page.locator('[data-submission="start"]')).to_contain_text("ref: main")
    expect(page.locator("#stop")).to_be_hidden()
    # the flow page draws levels computed in the browser: the same as the engine's
    with engine.client() as c:
        config = c.get("/flows/build").json()["Payload"]["Config"]
        levels = c.get("/flows/build/runs/h1-1").json()["Payload"]["Levels"]
    js = page.evaluate("cfg => import('/static/js/graph.js').then(m => m.flowLevels(cfg))", config)
    assert js == levels

    with engine.client() as c:  # more to see on the dashboard: running, pending and why
        start_run(c, "release")
        holder, waiter = start_run(c, "slow"), start_run(c, "slow")
    page.get_by_role("link", name="Dashboard").click()
    card = page.locator('[data-flow="build"]')
    expect(card.locator('[data-run="h1-1"]')).to_have_attribute("data-status", "good")
    expect(page.locator(f'[data-run="{holder}"]')).to_have_attribute("data-status", "running")
    expect(page.locator(f'[data-run="{waiter}"]')).to_contain_text("waits: resource tag db")
    assert not b.console_errors, b.console_errors

    phone = browse(engine, PHONE)
    phone.context.add_cookies(b.context.cookies())
    pages = (("/app/dash", "dash-phone.png"), ("/app/flows/build", "flow-phone.png"),
             ("/app/flows/build/runs/h1-1", "run-phone.png"))
    for path, shot in pages:
        phone.page.goto(path)
        expect(phone.page.locator("[data-status=good]").first).to_be_visible()
        wide = phone.page.evaluate("document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], f"{path} is {wide}px wide on a {PHONE['width']}px phone"
        photograph(phone.page, screenshots / shot)
    assert not phone.console_errors, phone.console_errors


def test_data_node_form(start_engine, browse):
    engine = start_engine(app(Path("/nonexistent")))
    b = browse(engine)
    page = b.page
    b.login(path="/app/flows/release")
    page.get_by_role("button", name="Start run").click()
    form = page.locator('form[data-form="sign-off"]')
    expect(form).to_have_attribute("data-enabled", "true")
    expect(node(page, "sign-off")).to_have_attribute("data-status", "waiting")
    expect(node(page, "ship")).to_have_attribute("data-status", "idle")
    form.get_by_label("Approved by").fill("vic")
    form.get_by_role("button", name="Submit").click()
    expect(page.locator("#run-status")).to_have_text("good")
    expect(node(page, "ship")).to_have_attribute("data-status", "good")
    row = page.locator('[data-submission="sign-off"]')
    expect(row.locator(".who-cell")).to_have_text(USER)
    expect(row).to_contain_text("approver: vic")
    expect(row.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))
    expect(form).to_have_attribute("data-enabled", "false")
    assert not b.console_errors, b.console_errors


def test_stop_a_run_and_see_why_a_run_waits(start_engine, browse):
    engine = start_engine(app(Path("/nonexistent")))
    with engine.client() as c:
        first = start_run(c, "slow")
        second = start_run(c, "slow")
    b = browse(engine)
    page = b.page
    b.login(path=f"/app/flows/slow/runs/{second}")
    expect(page.locator("#run-status")).to_have_text("pending")
    expect(page.locator("#run-result")).to_have_text(
        f"Pending: resource tag db held by slow {first}")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator(f'[data-flow="slow"] [data-run="{second}"]')).to_contain_text(
        f"waits: resource tag db held by slow {first}")

    page.goto(f"/app/flows/slow/runs/{first}")
    expect(node(page, "wait")).to_have_attribute("data-status", "running")
    page.get_by_role("button", name="Stop run").click()
    page.get_by_role("button", name="Yes, stop it").click()  # a stop is confirmed
    expect(page.locator("#run-status")).to_have_text("stopped")
    expect(page.locator("#run-result")).to_have_text(f"Result: stopped — stopped by {USER}")
    expect(node(page, "wait")).to_have_attribute("data-status", "stopped")  # not failed
    # the pend it held back starts at once, and its page shows so without a reload
    page.goto(f"/app/flows/slow/runs/{second}")
    expect(page.locator("#run-status")).to_have_text("running")
    page.get_by_role("button", name="Stop run").click()
    page.get_by_role("button", name="Yes, stop it").click()
    expect(page.locator("#run-status")).to_have_text("stopped")
    assert not b.console_errors, b.console_errors


def test_long_log_renders_its_tail(start_engine, browse):
    engine = start_engine(app(Path("/nonexistent")))
    with engine.client() as c:
        run = start_run(c, "chatty")
        wait_ended(c, "chatty", run, timeout=90)
    b = browse(engine)
    page = b.page
    b.login(path=f"/app/flows/chatty/runs/{run}?node=talk")
    expect(page.locator("#run-status")).to_have_text("good")
    log = page.locator("#log pre")
    # 100000 of seq and floe's two (directory, command)
    expect(page.locator("#log .log-bar")).to_contain_text("100002 lines", timeout=60_000)
    expect(log).to_contain_text("99999\n100000")
    assert log.evaluate("p => p.textContent.split('\\n').length") <= 1000
    page.get_by_role("button", name=re.compile("Show 5000 earlier of 99002 hidden")).click()
    expect(log).to_contain_text("94001\n")  # fetched from the API on demand
    assert log.evaluate("p => p.textContent.split('\\n', 1)[0]") == "94001"
    # the lines in view stay in view: the revealed ones are above them
    assert log.evaluate("p => p.scrollHeight - p.scrollTop - p.clientHeight") < 24


def test_bad_login_and_expired_session(start_engine, browse):
    engine = start_engine(app(Path("/nonexistent")))
    b = browse(engine)
    page = b.page
    b.login(password="wrong", path="/app/flows/release")
    expect(page).to_have_url(re.compile(r"/app/login\?next=%2Fapp%2Fflows%2Frelease$"))
    expect(page.locator("#login-error")).to_have_text(
        "Login failed: username or password were wrong")
    page.get_by_label("Password").fill("ann-s3cret")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/app/flows/release$"))
    expect(page.get_by_role("heading", name="release")).to_be_visible()

    # The session ends elsewhere (expired, or logged out in another tab): the next request is
    # refused, and the user logs in again and lands back on the same page.
    with engine.client(b.token()) as c:
        assert c.post("/logout").status_code == 200
    page.get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url(re.compile(r"/app/login\?next=%2Fapp%2Fdash$"))
    expect(page.get_by_role("alert").first).to_contain_text("session has ended")
    page.get_by_label("User").fill(USER)
    page.get_by_label("Password").fill("ann-s3cret")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/app/dash$"))
    expect(page.locator('[data-flow="release"]')).to_be_visible()

    page.get_by_role("link", name="Settings").click()
    expect(page.locator("#current-user")).to_contain_text(f"Logged in as {USER} with role admin")
    expect(page.locator('[data-host="h1"]')).to_contain_text("online")


def test_failed_request_is_shown(start_engine, browse):
    engine = start_engine(app(Path("/nonexistent")))
    b = browse(engine)
    page = b.page
    b.login(path="/app/flows/no-such-flow")
    alert = page.get_by_role("alert").first
    expect(alert).to_contain_text("There is no flow no-such-flow")
    expect(page.get_by_text("There is no flow no-such-flow")).to_have_count(1)  # said once
    expect(page.locator("main h2")).to_have_count(0)  # above no empty sections
    page.goto("/app/flows/build/runs/h1-99")
    expect(page.get_by_role("alert").first).to_contain_text("There is no run h1-99 of flow build")



def test_lost_websocket_reconnects_and_catches_up(start_engine, browse, tmp_path):
    durable = app(Path("/nonexistent"), store="local")
    engine = start_engine(durable)
    b = browse(engine)
    page = b.page
    b.login(path="/app/flows/release")
    expect(page.locator("#live")).to_have_text("live")
    engine.stop()
    expect(page.locator("#live")).to_have_text("reconnecting…")
    # Same port and store (sessions are kept there): a run starts while the page is away.
    again = start_engine(durable, f"-pub_bind=127.0.0.1:{engine.ports['pub']}")
    with again.client() as c:
        run = start_run(c, "release")
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator(f'#runs [data-run="{run}"]')).to_be_visible()
    expect(page.locator(f'#runs [data-run="{run}"]')).to_have_attribute("data-status", "running")


def test_a_viewer_may_look_but_not_start_or_stop(start_engine, browse):
    engine = start_engine(app(Path("/nonexistent")))
    with engine.client() as c:
        run = start_run(c, "slow")
    b = browse(engine)
    page = b.page
    b.login(user="vic", path="/app/flows/slow")
    expect(page.get_by_role("button", name="Start run")).to_be_disabled()
    expect(page.get_by_text("Your role (viewer) may not start runs.")).to_be_visible()
    page.goto(f"/app/flows/slow/runs/{run}")
    expect(page.locator("#run-status")).to_have_text("running")
    expect(page.get_by_role("button", name="Stop run")).to_be_disabled()
    with engine.client() as c:  # ended: re-running and keeping are an admin's too
        assert c.post(f"/flows/slow/runs/{run}/stop").status_code == 200
    expect(page.locator("#run-status")).to_have_text("stopped")
    expect(node(page, "wait")).to_have_attribute("data-status", "stopped")
    expect(page.get_by_role("button", name=re.compile("re-run", re.I))).to_have_count(0)
    expect(page.get_by_role("button", name="Keep")).to_have_count(0)
    assert not b.console_errors, b.console_errors


def test_every_page_says_when_the_run_store_cannot_save(start_engine, browse, tmp_path):
    # A full disk under the store (a tmpfs the test mounts; CI runs as root): a banner on
    # every page says runs are refused until it can save, and goes once space comes back.
    disk, gate = tmp_path / "disk", tmp_path / "gate"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], check=True)
    try:
        waits = f"until test -e {gate}; do sleep 0.05; done; echo finished"
        engine = start_engine(flows.app(one_task("f", shell=waits), store_type="local"),
                              f"-root={disk / 'root'}", name="full")
        with engine.client() as c:
            run = start_run(c, "f")
        b = browse(engine)
        b.login(user="admin", password=ADMIN, path="/app/dash")
        banner = b.page.locator("#store-health")
        expect(banner).to_be_hidden()
        filler = fill(disk)
        gate.touch()  # the run finishes now: its writes fail
        expect(banner).to_be_visible(timeout=30_000)
        expect(banner).to_contain_text("the run store cannot take writes now")
        expect(banner).to_contain_text("New runs are refused")
        filler.unlink()
        expect(banner).to_be_hidden(timeout=30_000)
        with engine.client() as c:
            assert wait_ended(c, "f", run)["Summary"]["State"] == "good"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
