"""The package's structure, read from its source: imports run one way, modules stay small, click stays in cli/.

The import graph is built from the AST of every module under ``optimizer/`` (imports inside functions count;
imports under ``if TYPE_CHECKING:`` do not run and do not count). See docs/architecture.md.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "optimizer"

# Lower layers never import higher ones (docs/architecture.md explains the order).
LAYERS = [
    {"errors", "_version", "_optional", "booleans"},
    {"config"},
    {"datum"},
    {"io"},
    {"region"},
    {"catalogue", "explore"},
    {"solvers"},
    {"scenario"},
    {"impedance"},
    {"locate"},
    {"evaluate", "accessibility"},
    {"render"},
    {"results"},
    {"planning"},
    {"pipeline", "sweeps", "bench"},
    {"cli"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}

# import name -> distribution name, where they differ
DISTRIBUTIONS = {
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
    "dask": "dask",
    "distributed": "dask",
    "IPython": "ipython",
    "osmium": "osmium",
    "igraph": "igraph",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(sub) for sub in ast.walk(node))
    return skip


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("optimizer"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                targets.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            targets.update(a.name for a in node.names if a.name.startswith("optimizer"))
    targets.discard(module)
    return {t for t in targets if t in modules}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 20
    assert find_cycles(graph) == []


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYER_OF.get(parts[1]) if len(parts) > 1 else None


def test_imports_run_one_way() -> None:
    wrong = []
    for module, targets in import_graph().items():
        mine = _layer(module)
        if mine is None:
            continue
        for target in targets:
            theirs = _layer(target)
            if theirs is not None and theirs > mine:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_every_module_has_a_layer() -> None:
    top = {m.split(".")[1] for m in import_graph() if m.count(".") >= 1}
    assert sorted(top - set(LAYER_OF)) == []


def test_no_module_over_a_thousand_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 1000
    }
    assert long == {}


def test_click_only_in_cli() -> None:
    users = []
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts[:1]:
            continue
        if re.search(r"^\s*(import click|from click\b)", path.read_text(encoding="utf-8"), re.M):
            users.append(str(path.relative_to(ROOT)))
    assert users == []


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return {re.split(r"[\[<>=!~; ]", s, maxsplit=1)[0].lower().replace("_", "-") for s in specs}


def test_every_third_party_import_is_declared() -> None:
    import sys

    stdlib = set(sys.stdlib_module_names)
    declared = _declared()
    missing = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top == "optimizer":
                    continue
                dist = DISTRIBUTIONS.get(top, top).lower().replace("_", "-")
                if dist not in declared:
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert sorted(missing) == []


@pytest.mark.parametrize(
    "name",
    [
        "load_scenario",
        "Scenario",
        "Region",
        "PlanningModel",
        "PlanResult",
        "run",
        "validate",
        "sweep",
        "LSCP",
        "MCLP",
        "PMedian",
        "PCenter",
        "CFLP",
    ],
)
def test_public_api_is_reexported(name: str) -> None:
    import optimizer as ro

    assert name in ro.__all__
    assert getattr(ro, name) is not None


def test_every_package_is_in_the_wheel() -> None:
    """pyproject lists packages explicitly (the shipped data is mapped in too): a new folder must be listed."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert sorted(on_disk - listed) == []
