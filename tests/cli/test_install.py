"""`floe install`, `uninstall`, `update` and `list` through the real console script, with pip
installing from a local find-links directory only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from contribs import contribution_files, make_dir, make_wheel, tree_digest

pytestmark = pytest.mark.script_launch_mode("subprocess")

# What `floe create` installs (the default bundle), sorted as vendor/, the lock and list are.
DEFAULT_REFS = ["data", "data_trigger", "end", "exec", "fetch", "git_checkout", "git_merge",
                "poll_git", "timer", "timer_trigger"]
HELLO_FLOW = {
    "id": "greet", "ver": 1,
    "triggers": [{"id": "start", "name": "Start", "type": "data"}],
    "tasks": [
        {"id": "say", "name": "Say", "listen": "trigger.good", "type": "hello"},
        {"id": "done", "name": "Done", "listen": "task.say.good", "type": "end"},
    ],
}

# the hint and ref lines under each kind of error
INSTALL_FAILED = ("hint: the project was left as it was; --verbose shows each step pip and git "
                  "take\nref: install-failed\n")
NOT_INSTALLED = "hint: 'floe list' shows the installed refs\nref: install-failed\n"
NOT_A_PROJECT = ("hint: run this in an engine project's directory, or make one with "
                 "'floe create NAME'\nref: project-invalid\n")


def add_flow(project: Path, flow: dict) -> None:
    app = json.loads((project / "app.json").read_text())
    app["flows"].append(flow)
    (project / "app.json").write_text(json.dumps(app, indent=2) + "\n")


def lock(project: Path) -> dict:
    return json.loads((project / "floe.lock").read_text())


def entry(project: Path, ref: str) -> dict:
    return next(c for c in lock(project)["contributions"] if c["ref"] == ref)


def test_install_run_list_uninstall(floe, project):
    app_before = (project / "app.json").read_text()
    r = floe("install", "floe-hello", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Installing floe-hello\nInstalled task: floe-hello 1.0.0\n"
    vendor = sorted(p.name for p in (project / "vendor").iterdir())
    assert {"hello", "hellodep", "floe_hello-1.0.0.dist-info",
            "hellodep-1.0.0.dist-info"} <= set(vendor)
    e = entry(project, "floe-hello")
    assert e["name"] == "hello" and e["type"] == "floe:task" and e["version"] == "1.0.0"
    assert e["package"] == "hello" and e["source"] == "pip"
    assert e["sha256"].startswith("sha256:")
    assert e["distributions"] == ["floe-hello==1.0.0", "hellodep==1.0.0"]
    # the only change to app.json: the ref appended to imports
    assert (project / "app.json").read_text() == app_before.replace(
        '"poll_git"]', '"poll_git", "floe-hello"]')

    r = floe("list", cwd=project)
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    hello = next(i for i in items if i["ref"] == "floe-hello")
    assert hello == {"name": "hello", "type": "floe:task",
                     "description": "the hello test contribution",
                     "homepage": "https://example.test", "ref": "floe-hello",
                     "path": str(project / "vendor" / "hello"), "descriptor": "descriptor.json",
                     "version": "1.0.0"}

    add_flow(project, HELLO_FLOW)
    assert floe("validate", cwd=project).returncode == 0
    r = floe("run", "-start=greet", "-once", "-events", f"-root={project.parent / 'ws'}",
             "-pub_bind=127.0.0.1:0", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "hello from a dep" in r.stdout
    used = json.loads(floe("list", "--filter", "used", cwd=project).stdout)
    assert "floe-hello" in [i["ref"] for i in used]

    r = floe("uninstall", "floe-hello", cwd=project)
    assert r.returncode == 1
    assert r.stderr == ("Error uninstalling floe-hello: task type hello is still used by flow "
                        "greet (nodes say); use --force to uninstall it anyway\n" + INSTALL_FAILED)
    r = floe("uninstall", "--force", "floe-hello", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Uninstalling floe-hello\nUninstalled task: floe-hello 1.0.0\n"
    assert sorted(p.name for p in (project / "vendor").iterdir()) == DEFAULT_REFS
    assert "floe-hello" not in json.loads((project / "app.json").read_text())["imports"]
    assert [c["ref"] for c in lock(project)["contributions"]] == DEFAULT_REFS


def test_uninstall_unused_restores_app_json(floe, project):
    before = (project / "app.json").read_text()
    assert floe("install", "floe-hello", cwd=project).returncode == 0
    r = floe("uninstall", "floe-hello", cwd=project)
    assert r.returncode == 0, r.stderr
    assert (project / "app.json").read_text() == before


def test_shared_dependency_stays_while_needed(floe, project, index):
    make_wheel(index, "floe-hola", "1.0.0", contribution_files("hola", "hola"),
               requires=("hellodep>=1",))
    assert floe("install", "floe-hello", "floe-hola", cwd=project).returncode == 0
    assert floe("uninstall", "floe-hello", cwd=project).returncode == 0
    assert (project / "vendor" / "hellodep").is_dir()
    assert floe("uninstall", "floe-hola", cwd=project).returncode == 0
    assert not (project / "vendor" / "hellodep").exists()
    assert not list((project / "vendor").glob("*.dist-info"))


def test_install_local_directory_with_requirements(floe, project, tmp_path):
    src = tmp_path / "src"
    make_dir(src, contribution_files("localhello", "localhello"))
    (src / "localhello" / "requirements.txt").write_text("hellodep>=1\n")
    r = floe("install", str(src / "localhello"), cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == f"Installed task: {src / 'localhello'} 1.0.0"
    e = entry(project, str(src / "localhello"))
    assert e["source"] == "local" and e["distributions"] == ["hellodep==1.0.0"]
    assert (project / "vendor" / "hellodep" / "__init__.py").is_file()
    r = floe("uninstall", str(src / "localhello"), cwd=project)
    assert r.returncode == 0, r.stderr
    assert not (project / "vendor" / "hellodep").exists()


def test_install_wheel_file(floe, project, index):
    r = floe("install", str(index / "floe_hello-1.0.0-py3-none-any.whl"), cwd=project)
    assert r.returncode == 0, r.stderr
    assert (project / "vendor" / "hello" / "descriptor.json").is_file()


def test_install_from_git(floe, project, tmp_path):
    work = tmp_path / "gitwork"
    make_dir(work, {f"contribs/{k}": v for k, v in
                    contribution_files("gitty", "gitty", dep="os").items()})
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "c"], check=True)
    subprocess.run([*git, "-C", str(work), "tag", "v1"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp_path / "repo.git")],
                   check=True)
    ref = f"file://{tmp_path / 'repo.git'}@v1#contribs/gitty"
    r = floe("install", ref, cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == f"Installed task: {ref} 1.0.0"
    assert entry(project, ref)["source"] == "git"
    assert not (project / "vendor" / "gitty" / ".git").exists()
    r = floe("install", f"file://{tmp_path / 'repo.git'}@nosuch#contribs/gitty", cwd=project)
    assert r.returncode == 1
    assert r.stderr.startswith(f"Error installing file://{tmp_path / 'repo.git'}@nosuch"
                               "#contribs/gitty: git failed: ")


def test_install_again_is_a_no_op(floe, project):
    before = tree_digest(project)
    r = floe("install", "exec", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Already installed task: exec 1.0.0\n"
    assert tree_digest(project) == before


def test_bundled_refs(floe, project):
    assert floe("uninstall", "timer", cwd=project).returncode == 0
    r = floe("install", "timer", cwd=project)
    assert r.stdout == "Installing timer\nInstalled task: timer 1.0.0\n"


@pytest.mark.parametrize("case", ["bad-descriptor", "missing-package", "clash", "no-descriptor",
                                  "no-such-dir", "not-a-contribution"])
def test_failed_install_changes_nothing(floe, project, tmp_path, index, case):
    src = tmp_path / "src"
    if case == "bad-descriptor":
        make_dir(src, {"badone/__init__.py": "", "badone/descriptor.json":
                       '{"name": "badone", "type": "floe:task", "version": "1"}'})
        ref = str(src / "badone")
        want = f"Error installing {ref}: {ref}/descriptor.json: missing or empty main\n" \
            + INSTALL_FAILED
    elif case == "missing-package":
        ref, want = "nosuch-package", None
    elif case == "clash":
        make_dir(src, contribution_files("exec", "myexec"))
        ref = str(src / "exec")
        want = f"Error installing {ref}: vendor/exec is already installed (from exec)\n" \
            + INSTALL_FAILED
    elif case == "no-descriptor":
        (src / "plain").mkdir(parents=True)
        ref = str(src / "plain")
        want = f"Error installing {ref}: {ref} holds no descriptor.json (not a floe " \
            "contribution)\n" + INSTALL_FAILED
    elif case == "no-such-dir":
        ref = "./missing-dir"
        want = (f"Error installing ./missing-dir: no such directory: "
                f"{project / 'missing-dir'}\n" + INSTALL_FAILED)
    else:
        make_wheel(index, "plainlib", "1.0.0", {"plainlib/__init__.py": ""})
        ref = "plainlib"
        want = ("Error installing plainlib: plainlib is not a floe contribution: no package "
                "directory with a valid descriptor.json\n" + INSTALL_FAILED)
    before = tree_digest(project)
    r = floe("install", "floe-hello", ref, cwd=project)
    assert r.returncode == 1
    if want is None:
        assert r.stderr.startswith("Error installing nosuch-package: pip failed: ")
        assert "No matching distribution found for nosuch-package" in r.stderr
    else:
        assert r.stderr == want
    assert tree_digest(project) == before


def test_name_clash_with_an_installed_type(floe, project, tmp_path):
    src = tmp_path / "src"
    make_dir(src, contribution_files("otherexec", "exec"))
    before = tree_digest(project)
    r = floe("install", str(src / "otherexec"), cwd=project)
    assert r.returncode == 1
    assert r.stderr == (f"Error installing {src / 'otherexec'}: a task named exec is already "
                        "installed (from exec)\n" + INSTALL_FAILED)
    assert tree_digest(project) == before


def test_install_bundle_file(floe, project, tmp_path, index):
    make_wheel(index, "floe-hola", "1.0.0", contribution_files("hola", "hola"),
               requires=("hellodep>=1",))
    (tmp_path / "good.json").write_text(json.dumps(
        {"name": "b", "contributions": ["floe-hello", "floe-hola"]}))
    (tmp_path / "bad.json").write_text(json.dumps(
        {"name": "b", "contributions": ["floe-hello", "nosuch-package"]}))
    before = tree_digest(project)
    r = floe("install", "-f", str(tmp_path / "bad.json"), cwd=project)
    assert r.returncode == 1
    assert r.stderr.startswith("Error installing nosuch-package: pip failed: ")
    assert tree_digest(project) == before
    r = floe("install", "-f", str(tmp_path / "missing.json"), cwd=project)
    assert r.returncode == 1
    assert r.stderr == ("Error installing contribution bundle: cannot read "
                        f"{tmp_path / 'missing.json'}: No such file or directory\n"
                        "hint: give -f the path of a bundle file\nref: project-invalid\n")
    r = floe("install", "-f", str(tmp_path / "good.json"), cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-2:] == ["Installed task: floe-hello 1.0.0",
                                          "Installed task: floe-hola 1.0.0"]


def test_update(floe, project, index):
    assert floe("install", "floe-hello", cwd=project).returncode == 0
    r = floe("update", "floe-hello", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "Up to date task: floe-hello 1.0.0"
    make_wheel(index, "floe-hello", "1.1.0", contribution_files("hello", "hello",
                                                                version="1.1.0"),
               requires=("hellodep>=1",))
    app_before = (project / "app.json").read_text()
    r = floe("update", "--all", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "Updated task: floe-hello 1.0.0 -> 1.1.0" in r.stdout.splitlines()
    assert "Up to date task: exec 1.0.0" in r.stdout.splitlines()
    e = entry(project, "floe-hello")
    assert e["version"] == "1.1.0"
    assert e["distributions"] == ["floe-hello==1.1.0", "hellodep==1.0.0"]
    assert not (project / "vendor" / "floe_hello-1.0.0.dist-info").exists()
    assert (project / "app.json").read_text() == app_before


def test_update_errors(floe, project):
    r = floe("update", cwd=project)
    # no REF is a usage error: exit 2 and the verb's help
    assert (r.returncode, r.stderr) == (
        2, "Error updating contribution: no contribution given: name a REF or use --all\n"
           "hint: run 'floe update --help' for its usage\nref: usage-invalid\n")
    r = floe("update", "nosuch", cwd=project)
    assert (r.returncode, r.stderr) == (1, "Error updating nosuch: nosuch is not installed\n"
                                           + NOT_INSTALLED)


def test_uninstall_errors(floe, project):
    before = tree_digest(project)
    r = floe("uninstall", "nosuch", cwd=project)
    assert (r.returncode, r.stderr) == (
        1, "Error uninstalling nosuch: nosuch is not installed\n" + NOT_INSTALLED)
    r = floe("uninstall", "exec", cwd=project)
    assert r.returncode == 1
    assert r.stderr == ("Error uninstalling exec: task type exec is still used by flow "
                        "build-project (nodes prepare, lint, unit-tests, package); use --force "
                        "to uninstall it anyway\n" + INSTALL_FAILED)
    assert tree_digest(project) == before


def test_install_needs_a_ref(floe, project):
    r = floe("install", cwd=project)
    assert (r.returncode, r.stderr) == (
        2, "Error installing contribution: no REF given (name one, or a bundle with -f)\n"
           "hint: run 'floe install --help' for its usage\nref: usage-invalid\n")


def test_verbose_shows_pip_output(floe, project):
    r = floe("install", "--verbose", "floe-hello", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "-m pip install --target" in r.stderr
    assert "Successfully installed floe-hello-1.0.0 hellodep-1.0.0" in r.stderr
    r = floe("--verbose", "uninstall", "floe-hello", cwd=project)
    assert r.returncode == 0, r.stderr
    r = floe("--verbose", "install", "floe-hello", cwd=project)
    assert "-m pip install --target" in r.stderr


def test_list(floe, project):
    r = floe("list", "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    refs = [i["ref"] for i in items]
    assert refs == sorted(refs) == DEFAULT_REFS
    for i in items:
        assert (Path(i["path"]) / i["descriptor"]).is_file()
        assert i["type"] in ("floe:task", "floe:trigger")
    assert floe("list", cwd=project).stdout == r.stdout
    used = json.loads(floe("list", "--filter", "used", cwd=project).stdout)
    assert {(i["type"], i["name"]) for i in used} == {
        ("floe:task", "exec"), ("floe:task", "end"), ("floe:trigger", "data")}
    unused = json.loads(floe("list", "--filter", "UNUSED", cwd=project).stdout)
    assert [i["ref"] for i in unused] == ["data", "fetch", "git_checkout", "git_merge",
                                          "poll_git", "timer", "timer_trigger"]
    bad = floe("list", "--filter", "bogus", cwd=project)
    assert (bad.returncode, bad.stderr) == (
        2, "Error getting list of contributions: --filter must be used or unused, not 'bogus'\n"
           "hint: run 'floe list --help' for its usage\nref: usage-invalid\n")
    table = floe("list", "--table", cwd=project, COLUMNS="120")
    assert table.returncode == 0 and "data_trigger" in table.stdout


def test_list_empty_project(floe, tmp_path):
    (tmp_path / "empty.json").write_text('{"contributions": []}')
    (tmp_path / "app.json").write_text('{"name": "bare", "flows": []}')
    r = floe("create", "-f", "app.json", cwd=tmp_path,
             FLOE_DEFAULT_BUNDLE=str(tmp_path / "empty.json"))
    assert r.returncode == 0, r.stderr
    r = floe("list", cwd=tmp_path / "bare")
    assert (r.returncode, r.stdout) == (0, "[]\n")
    assert floe("list", "--filter", "used", cwd=tmp_path / "bare").stdout == "[]\n"


@pytest.mark.parametrize("verb", [["install", "exec"], ["uninstall", "exec"], ["update", "--all"],
                                  ["list"]])
def test_outside_a_project(floe, tmp_path, verb):
    d = tmp_path / "d"
    d.mkdir()
    r = floe(*verb, cwd=d)
    assert (r.returncode, r.stderr) == (
        1, "Error validating project: not a floe engine project directory, missing app.json\n"
           + NOT_A_PROJECT)
    (d / "app.json").write_text("{}")
    r = floe(*verb, cwd=d)
    assert r.stderr == ("Error validating project: not a floe engine project directory, "
                        "missing vendor/ directory\n" + NOT_A_PROJECT)
    (d / "vendor").mkdir()
    r = floe(*verb, cwd=d)
    assert r.stderr == ("Error validating project: not a floe engine project directory, "
                        "missing floe.lock\n" + NOT_A_PROJECT)


def test_plain_config_outside_a_project(floe, tmp_path):
    (tmp_path / "config.yml").write_text(
        "common: {store-type: memory}\nflows:\n  - id: f\n    ver: 1\n    triggers:\n"
        "      - {name: start, type: data}\n    tasks:\n      - {name: t, listen: trigger.good,"
        " type: exec, opts: {cmd: 'true'}}\n")
    assert floe("validate", "config.yml", cwd=tmp_path).returncode == 0
    r = floe("run", "-conf=config.yml", "-start=f", "-once", f"-root={tmp_path / 'ws'}",
             "-pub_bind=127.0.0.1:0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_project_knows_only_its_vendored_types(floe, project):
    assert floe("uninstall", "--force", "exec", cwd=project).returncode == 0
    r = floe("validate", cwd=project)
    assert r.returncode == 2
    assert "exec" in r.stderr


def test_version(script_runner):
    import floecli

    r = script_runner.run(["floe", "--version"])
    assert (r.returncode, r.stdout) == (0, f"floe version {floecli.__version__}\n")


def test_uninstall_a_used_trigger(floe, project):
    r = floe("uninstall", "data", "data_trigger", cwd=project)
    assert r.returncode == 1
    assert r.stderr == ("Error uninstalling data_trigger: trigger type data is still used by "
                        "flow build-project (nodes start); use --force to uninstall it anyway\n"
                        + INSTALL_FAILED)
    r = floe("uninstall", "data", cwd=project)
    assert (r.returncode, r.stdout) == (0, "Uninstalling data\nUninstalled task: data 1.0.0\n")
