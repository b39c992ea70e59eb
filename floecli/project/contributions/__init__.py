"""Installing, updating and uninstalling contributions in a project's vendor/, keeping app.json
`imports` and floe.lock in step. All or nothing and one at a time: each command holds the
project lock, works on a staged copy of vendor/, and the project changes only when every ref
succeeded. The pip requirements of all installed contributions are resolved together, in one
pip run with the engine runtime's own pins as constraints, so two contributions that need
different versions of a dependency, or one that needs another version of an engine library,
are a conflict reported with both requirements, never a vendor/ holding only one of them.
The engine's libraries never land in vendor/ (the runtime provides them), no dependency may
ship a package named like a contribution's or an engine library, and every contribution
installed or updated is imported in a subprocess before anything is kept.

The rooms, by job:

- installer.py: Installer, the commands (install, update, uninstall) and what each did (Change);
- staging.py: the staged copy of vendor/ and its commit;
- directory.py: a contribution directory (bundled, local, a git checkout) copied in;
- gitfetch.py: a git ref cloned at its revision;
- pipresolve.py: the one pip resolution, and vendor/'s distributions made exactly its result;
- depgraph.py: the resolution's dependency graph (which distributions a contribution needs);
- checks.py: the refusals (a clash with what is installed, a node type a flow still uses).
"""

from .installer import Change, Installer, Step

__all__ = ["Change", "Installer", "Step"]
