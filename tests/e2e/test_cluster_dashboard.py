"""The dashboard of one host of a cluster: it shows which host ran each run, and follows a run
executing on another host live (its websocket relays that host's events: ?cluster=1)."""

from __future__ import annotations

from pathlib import Path

from browsing import PASSWORD_HASH
from clustertest import cluster, online_peers
from playwright.sync_api import expect
from servertest import start_run, wait_ended, wait_until

USERS = f'  users: [{{name: ann, role: admin, password-hash: "{PASSWORD_HASH}"}}]\n'


def gpu_flow(gate: Path) -> str:
    return (f"  - {{id: train, name: train, ver: 1, host-tags: [gpu], "
            f"triggers: [{{id: start, type: data}}], tasks: ["
            f"{{id: fit, listen: trigger.good, type: exec, opts: {{shell: "
            f"\"until [ -e {gate} ]; do sleep 0.05; done; echo fitted\"}}}}]}}")


def test_the_host_column_and_a_run_on_another_host_live(tmp_path: Path, browse) -> None:
    gate = tmp_path / "gate"
    with cluster(tmp_path, ["linux", "gpu"], [gpu_flow(gate)], common=USERS) as hosts:
        hosts.start_all()
        with hosts.client(0) as h1:
            wait_until(lambda: online_peers(h1) == {"h2"}, 10, "h1 to see h2")
            b = browse(hosts.engines[0])
            b.login(path="/app/flows/train")
            expect(b.page.get_by_role("heading", name="train")).to_be_visible()
            run = start_run(h1, "train")  # adopted by h1, run by h2
            row = b.page.locator(f'[data-run="{run}"]')
            expect(row).to_have_attribute("data-status", "running")
            expect(row.locator("[data-exec-host]")).to_have_text("h2")
            gate.touch()
            expect(row).to_have_attribute("data-status", "good")  # h2's end, relayed by h1
            assert wait_ended(h1, "train", run)["Summary"]["Ref"]["ExecHost"] == "h2"
            assert not b.console_errors, b.console_errors
