"""Imports point one way: bench → eval → rag, with the CLI (rag/cli.py) and ui/ as clients on top.

Read from the source with `ast` (imports inside functions included), so a lazy import cannot
hide a dependency. `from x import y` is an edge to x.y when x.y is a module, else to x; a
submodule's import of its own package (``from rag import citations``) is an edge to the
submodule only, because every submodule import initialises its parent package anyway and
counting it would make each lazy import in an ``__init__`` look like a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rag", "eval", "bench", "ui", "prompts")
MAX_RAG_LINES = 450
#: The only module that may import the CLI (``python -m rag``), if it exists.
CLI, CLI_ENTRY = "rag.cli", "rag.__main__"


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name → file, for every .py file of the project's packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a project module, or None (third-party)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported project module, line) for every import statement in the file, at any depth."""
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                pkg = pkg[:len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                targets.append(sub if sub in modules else base)
        for t in targets:
            resolved = _resolve(t, modules)
            if resolved and resolved != module:
                out.append((resolved, node.lineno))
    return out


def import_graph(root: Path = ROOT) -> dict[str, list[tuple[str, int]]]:
    modules = project_modules(root)
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def _in(module: str, pkg: str) -> bool:
    return module == pkg or module.startswith(pkg + ".")


def layer_violations(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    bad = []
    for m, edges in sorted(graph.items()):
        for target, line in edges:
            if _in(m, "rag") and m != CLI and any(_in(target, p) for p in ("eval", "bench", "ui")):
                bad.append(f"{m} (line {line}) imports {target}: rag/ must not import eval, "
                           "bench or ui (only rag/cli.py, the client on top, may)")
            if _in(m, "eval") and any(_in(target, p) for p in ("bench", "ui")):
                bad.append(f"{m} (line {line}) imports {target}: eval/ must not import bench "
                           "or ui")
            if target == CLI and m != CLI_ENTRY:
                bad.append(f"{m} (line {line}) imports {CLI}: the CLI is a client, nothing "
                           "imports it")
    return bad


def cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """One concrete cycle (a → b → … → a) per strongly connected component of the graph."""
    succ = {m: sorted({t for t, _ in edges if t in graph}) for m, edges in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(succ):
        if v not in index:
            strongconnect(v)

    out = []
    for comp in components:
        members, start = set(comp), comp[0]
        # Shortest path from start back to start inside the component (BFS).
        prev: dict[str, str] = {}
        frontier = [start]
        found = None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in succ[v]:
                    if w not in members:
                        continue
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path = [start]
        v = found
        while v is not None and v != start:
            path.append(v)
            v = prev.get(v)
        out.append([start] + path[1:][::-1] + [start])
    return out


def long_rag_modules(root: Path = ROOT) -> list[str]:
    out = []
    for m, path in project_modules(root).items():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if _in(m, "rag") and n > MAX_RAG_LINES:
            out.append(f"{path.relative_to(root)}: {n} lines (limit {MAX_RAG_LINES})")
    return out


def test_the_graph_sees_the_project():
    graph = import_graph()
    assert {"rag", "rag.answer", "rag.cli", "eval.runner", "bench.perf", "ui.app",
            "prompts"} <= set(graph)
    # Lazy imports count: rag.cli imports ui.app only inside cmd_ui.
    assert "ui.app" in {t for t, _ in graph["rag.cli"]}


def test_rag_and_eval_do_not_import_the_layers_above_them():
    bad = layer_violations(import_graph())
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_rag_modules_stay_small():
    long = long_rag_modules()
    assert not long, "modules under rag/ too long:\n" + "\n".join(long)
