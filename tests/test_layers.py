"""The package's shape, as docs/architecture.md describes it: no import cycles, lower layers never reach up
into the pipeline or a command-line module, the ground floor imports nothing of the project, and no file
of the pipeline grows into a god module again."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "auroram"
GROUND = {"auroram.errors", "auroram.faults", "auroram.io", "auroram.typedconfig", "auroram.jsonl", "auroram.outputs"}


def _module(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("auroram")}


@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    return {_module(p): p for p in SRC.rglob("*.py")}


def _graph(modules: dict[str, Path], top_level_only: bool) -> dict[str, set[str]]:
    return {m: {i for i in _imports(p, top_level_only) if i in modules and i != m} for m, p in modules.items()}


def test_no_import_cycles(modules):
    graph = _graph(modules, top_level_only=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            # a registry package and the entry files that register into it are one unit, not a cycle
            root = min(comp, key=len)
            if not all(c == root or c.startswith(root + ".") for c in comp):
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_lower_layers_never_import_the_pipeline_or_a_command_line_module(modules):
    bad = []
    for m, p in modules.items():
        for i in _imports(p, top_level_only=False):
            up = i.startswith("auroram.pipeline") and not m.startswith(("auroram.pipeline", "auroram.cli"))
            # only the CLI itself puts a command's parser together; steps call the functions underneath
            cli = i.endswith(".cli") and i != m and m != "auroram.cli"
            if up or cli:
                bad.append(f"{m} imports {i}")
    assert bad == []


def test_the_ground_floor_imports_nothing_of_the_project_above_it(modules):
    bad = [f"{m} imports {i}" for m in GROUND if m in modules
           for i in _imports(modules[m], top_level_only=False) if i in modules and i not in GROUND]
    assert bad == []


def test_no_pipeline_file_is_a_god_module():
    sizes = {p.relative_to(SRC).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in (SRC / "pipeline").rglob("*.py")}
    assert {f: n for f, n in sizes.items() if n > 300} == {}
