"""A chatty task cannot take the engine down: its log is capped, the rest goes to a file."""

from __future__ import annotations

from pathlib import Path


async def test_lines_past_the_cap_go_to_the_node_log_file(engine_factory):
    h = await engine_factory("""
    common: {store-type: local, log-lines: 100}
    flows:
      - id: chatty
        ver: 1
        triggers: [{name: start, type: data}]
        tasks:
          - {name: talk, listen: trigger.good, type: exec, opts: {cmd: "seq 50000"}}
    """)
    end = await h.run_to_end("chatty", timeout=120)
    assert end.good
    run = end.run_ref.run_id
    record = await h.hub.find_run("chatty", run)
    node = record.exec_nodes["talk"]
    assert len(node.logs) == 101 and node.logs[-1].startswith("[log cap reached (100 lines")
    kept = [line for line in node.logs[:-1] if line.isdigit()]
    in_file = Path(node.log_file).read_text().split()
    # every line is somewhere, in order, once
    assert kept + in_file == [str(n) for n in range(1, 50001)]
    assert node.spilled == len(in_file)
    assert len(await h.hub.store.node_logs(run, "talk")) == 1
    assert len((await h.hub.store.node_logs(run, "talk"))["talk"]) == 101


async def test_a_firehose_task_is_paced_and_the_engine_goes_on(engine_factory):
    h = await engine_factory("""
    common: {store-type: local, log-lines: 1000}
    flows:
      - id: firehose
        ver: 1
        triggers: [{name: start, type: data}]
        tasks:
          - {name: yes, listen: trigger.good, type: exec,
             opts: {shell: "yes | head -c 20000000"}}
          - {name: other, listen: trigger.good, type: exec, opts: {cmd: "echo meanwhile"}}
    """)
    end = await h.run_to_end("firehose", timeout=120)
    run = end.run_ref.run_id
    record = await h.hub.find_run("firehose", run)
    assert end.good and "meanwhile" in record.exec_nodes["other"].logs
    node = record.exec_nodes["yes"]
    assert len(node.logs) == 1001
    assert node.spilled + sum(1 for line in node.logs if line == "y") == 10_000_000
