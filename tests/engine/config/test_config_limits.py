"""Hostile app documents: each is a ConfigError placed at FILE:LINE, never a crash or a hang."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from floecli.engine.config import ConfigError, parse_app
from floecli.engine.config.safeyaml import ALIAS_NODES, MAX_DEPTH


def _problems(text: str, file: str = "app.yml") -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_app(text, file)
    errors = [p for p in e.value.problems if p.severity == "error"]
    assert errors and all(p.file == file for p in errors)
    return [str(p) for p in errors]


@pytest.mark.parametrize(("text", "want"), [
    ("flows: [null]\n", "app.yml:1: flows[0]: expected a flow (a mapping), not nothing"),
    ("flows:\n  -\n", "app.yml:2: flows[0]: expected a flow (a mapping), not nothing"),
    ("flows:\n  - id: f\n    tasks: [null]\n",
     "app.yml:3: flows[0].tasks[0]: expected a node (a mapping), not nothing"),
    ("common:\n  users: [null]\n",
     "app.yml:2: common.users[0]: expected a user (a mapping), not nothing"),
    ("flows:\n  - id: f\n    ver: !!int yes\n",
     "app.yml:3: flows[0].ver: 'yes' is not a valid int"),
    ("flows:\n  - id: f\n    reuse-space: !!bool maybe\n",
     "app.yml:3: flows[0].reuse-space: 'maybe' is not a valid bool"),
    ("flows:\n  - id: f\n    ver: !!float abc\n",
     "app.yml:3: flows[0].ver: 'abc' is not a valid float"),
    ("flows:\n  - id: f\n    ver: " + "9" * 5000 + "\n", "app.yml:3: flows[0].ver: '9999"),
    ("flows:\n  - id: f\n    tasks:\n      - {id: a, opts: {n: " + "7" * 5000 + "}}\n",
     "app.yml:4: flows[0].tasks[0].opts.n: '7777"),
])
def test_bad_documents_are_placed_config_errors(text: str, want: str) -> None:
    assert any(p.startswith(want) for p in _problems(text)), _problems(text)


@pytest.mark.parametrize("file", ["app.yml", "app.json"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deep_nesting(file: str, depth: int) -> None:
    text = '{"flows": ' + "[" * depth + "]" * depth + "}\n"
    got = _problems(text, file)
    assert got[0].endswith(f"nested deeper than {MAX_DEPTH} levels")


def test_nesting_to_the_limit_loads() -> None:
    deep = "[" * (MAX_DEPTH - 6) + "]" * (MAX_DEPTH - 6)
    config = parse_app(f'{{"flows": [{{"id": "f", "tasks": [{{"id": "a", "listen": "trigger.good", '
                       f'"opts": {{"x": {deep}}}' "}]}]}\n", "app.yml")
    assert config.flows[0].id == "f"


def test_json_file_with_a_huge_integer() -> None:
    assert "invalid JSON" in _problems('{"flows": [{"id": "f", "ver": ' + "9" * 5000 + "}]}",
                                       "app.json")[0]


@pytest.mark.parametrize("ident", ["a\x00b", "a\ud800b", "/tmp/x", "../x", "a/b", "a%2fb",
                                   "a?b", "é"])
def test_ids_are_url_and_path_safe(ident: str) -> None:
    import json

    text = json.dumps({"flows": [{"id": ident}]})
    assert "may only contain letters a-z, digits, - and _" in _problems(text)[0]
    text = json.dumps({"flows": [{"id": "f", "tasks": [{"id": ident}]}]})
    assert "may only contain letters a-z, digits, - and _" in _problems(text)[0]


def test_a_derived_id_is_checked_too() -> None:
    # The reference derives `a--b/c` from `a  b/c`; it would name a directory `b/c` below `a--`.
    assert "id 'a--b/c' may only" in _problems("flows:\n  - name: a  b/c\n")[0]


LAUGHS = "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p != '_' else ', '.join(['lol'] * 9)}]\n"
    for p, c in zip("_abcdefgh", "abcdefghi", strict=True))

MERGE_BOMB = "l0: &l0 {" + ", ".join(f"x{i}: lol" for i in range(9)) + "}\n" + "".join(
    f"l{n}: &l{n} {{<<: [{', '.join([f'*l{n - 1}'] * 9)}], "
    + ", ".join(f"k{i}: *l{n - 1}" for i in range(9)) + "}\n" for n in range(1, 10))


@pytest.mark.parametrize(("name", "bomb"), [("billion laughs", LAUGHS), ("merges", MERGE_BOMB)])
def test_alias_bombs_are_refused_within_bounded_memory(name: str, bomb: str) -> None:
    assert len(bomb) < 2000
    # In a child limited to 1 GiB of address space: the old loader died there (6 GB).
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from floecli.engine.config import ConfigError, parse_app
        try:
            parse_app({bomb!r}, "bomb.yml")
        except ConfigError as e:
            print(e)
            sys.exit(0)
        sys.exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("bomb.yml:"), done.stdout
    assert f"more than {ALIAS_NODES} extra nodes" in done.stdout


def test_ordinary_aliases_still_work() -> None:
    config = parse_app(textwrap.dedent("""\
        defaults: &run {type: exec, listen: trigger.good}
        flows:
          - id: f
            tasks:
              - {<<: *run, id: a, opts: {cmd: "true"}}
              - {<<: *run, id: b, opts: {cmd: "true"}}
        """), "app.yml")
    assert [t.type for t in config.flows[0].tasks] == ["exec", "exec"]


@pytest.mark.parametrize("text", [
    '{"flows": ' + "[" * 50_000 + "]" * 50_000 + "}\n",
    '{"flows":\n  [{"id": "f",\n   "ver": ' + "9" * 5000 + "}]}\n",
])
def test_every_json_error_has_a_line(text: str) -> None:
    [problem] = _problems(text, "app.json")
    assert problem.startswith("app.json:") and not problem.startswith("app.json: "), problem
    assert problem.split(":")[1] == ("1" if text.count("\n") == 1 else "3")


def test_an_app_document_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path) -> None:
    # 200,000 keys in 3 MB: parsed, they took 358 MB; refused, almost nothing
    keys = ",".join(f'"k{i}": {i}' for i in range(200_000))
    path = tmp_path / "app.json"
    path.write_text('{"flows": [{"id": "f", "opts": {' + keys + "}}]}")
    probe = textwrap.dedent(f"""
        from floecli.engine.config import ConfigError, load_app
        try:
            load_app({str(path)!r})
        except ConfigError as e:
            print(e.problems[0].message)
        status = open("/proc/self/status").read().split("VmHWM:")[1]
        print(int(status.split()[0]) // 1024)  # peak resident MB (ru_maxrss survives exec)
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == f"the app document is more than {1024 * 1024} characters long: refused"
    print(f"peak {out[1]} MB to refuse a 3 MB document")  # docs quote this (-s)
    assert int(out[1]) < 100, f"{out[1]} MB to refuse a 3 MB document"
