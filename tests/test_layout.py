"""The README's table of stages is the core's import graph: every module is in it once, every
import runs from a stage to itself or one above, and no modules import each other in a loop."""

from __future__ import annotations

import ast
import re

from .conftest import REPO

PACKAGE = REPO / "soundmatch"


def stages() -> dict[str, int]:
    """Module (``cli.*``: a package's modules) -> its stage, the row of the README's table."""
    text = (REPO / "README.md").read_text().split("## The code, by stage", 1)[1]
    table = text.split("\n## ", 1)[0]
    found: dict[str, int] = {}
    for row, line in enumerate(re.findall(r"^\| [a-z ]+ \| (`.*)\|$", table, re.M)):
        for name in re.findall(r"`([a-z_.*]+)`", line):
            assert name not in found, f"{name} is listed twice"
            found[name] = row
    return found


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "soundmatch"
        out[name] = ast.parse(path.read_text())
    return out


def imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its code. The package itself
    imports the matcher on first use only (``soundmatch.Matcher``), so there only the imports at
    module level count."""
    here = [] if name == "soundmatch" else name.split(".")
    if not _is_package(name):
        here = here[:-1]  # a module's relative imports start from its package
    found = set()
    for node in tree.body if name == "soundmatch" else ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
            elif (node.module or "").split(".")[0] == "soundmatch":
                base = []
            else:
                continue
            stem = base + (node.module.split(".") if node.module else [])
            if stem[:1] == ["soundmatch"]:
                stem = stem[1:]
            found |= {".".join(stem)} | {".".join([*stem, a.name]) for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("soundmatch").strip(".") for a in node.names
                      if a.name.split(".")[0] == "soundmatch"}
    found = {f or "soundmatch" for f in found}
    return {f for f in found if f in known and f != name}


def _is_package(name: str) -> bool:
    return name == "soundmatch" or (PACKAGE / name.replace(".", "/") / "__init__.py").exists()


def stage_of(name: str, table: dict[str, int]) -> int | None:
    if name in table:
        return table[name]
    return table.get(name.rpartition(".")[0] + ".*")


def test_every_module_is_in_the_table_of_stages():
    table = stages()
    missing = sorted(n for n in modules() if stage_of(n, table) is None)
    assert not missing, f"not in the README's table of stages: {missing}"
    listed = {n for n in table if not n.endswith(".*")}
    assert listed <= set(modules()), f"listed but not modules: {listed - set(modules())}"


def test_imports_run_one_way():
    table, trees = stages(), modules()
    graph = {name: imports(name, tree, set(trees)) for name, tree in trees.items()}
    upwards = [f"{a} -> {b}" for a, deps in graph.items() for b in deps
               if stage_of(b, table) > stage_of(a, table)]
    assert not upwards, f"imports that run up the stages: {upwards}"
    # No loops: repeatedly take away the modules that import nothing left.
    left = {a: set(deps) for a, deps in graph.items()}
    while True:
        leaves = {a for a, deps in left.items() if not deps}
        if not leaves:
            break
        left = {a: deps - leaves for a, deps in left.items() if a not in leaves}
    assert not left, f"modules that import each other, round a loop: {sorted(left)}"


def test_the_check_finds_an_import_that_runs_upwards():
    tree = ast.parse("from .matcher import Matcher\n")
    table = stages()
    found = imports("spec", tree, {"matcher", "spec"})
    assert found == {"matcher"} and stage_of("matcher", table) > stage_of("spec", table)


def test_no_module_is_over_450_lines():
    long = {p.relative_to(REPO).as_posix(): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 450}
    assert not long, f"split these into modules named for what they hold: {long}"
