"""A run's inputs: every value pushed into it reaches every task that starts after it."""

from __future__ import annotations

from flows import app, ask, data_trigger, flow, task
from servertest import run_view, start_run, wait_ended, wait_until

RELEASE_APP = app(flow(
    "release",
    task("build", shell="echo building $FLOE_IN_REF"),
    ask("sign-off", "Sign off", {"id": "target"}, {"id": "approver"}, listen="task.build.good"),
    task("deploy", shell='echo "deploying $FLOE_IN_REF to $FLOE_IN_TARGET by $FLOE_IN_APPROVER"',
         listen="task.sign-off.good"),
    triggers=[data_trigger(title="Release", fields=[{"id": "ref", "prompt": "Ref"},
                                                    {"id": "target"}])]),
    store_type="memory")


def test_a_sign_off_forms_values_reach_the_tasks_after_it(start_engine):
    engine = start_engine(RELEASE_APP)
    with engine.client() as c:
        run = start_run(c, "release", {"ref": "v1.2", "target": "staging"})
        wait_until(lambda: run_view(c, "release", run)["Graph"][1][0]["Enabled"],
                   what="the sign-off form")
        r = c.post("/push/data", json={"Ref": {"ID": "release", "Ver": 1}, "Run": run,
                                       "Form": {"ID": "sign-off",
                                                "Values": {"target": "prod", "approver": "ann"}}})
        assert r.status_code == 200, r.text
        view = wait_ended(c, "release", run)
        assert view["Summary"]["Good"]
        # a later form's value replaces an earlier one of the same name
        assert view["Summary"]["Inputs"] == {"ref": "v1.2", "target": "prod", "approver": "ann"}
        # the form's own values stay in its node's record
        signoff = view["Graph"][1][0]
        assert signoff["ID"] == "sign-off"
        assert {f["id"]: f["value"] for f in signoff["Fields"]} == {"target": "prod",
                                                                     "approver": "ann"}
        logs = c.get(f"/flows/release/runs/{run}/logs").json()["Payload"]
        assert logs["build"][-1] == "building v1.2"
        assert logs["deploy"][-1] == "deploying v1.2 to prod by ann"
        rows = c.get("/flows/release").json()["Payload"]["Runs"]["Archive"]
        assert rows[0]["Inputs"]["approver"] == "ann"
