"""The shape of the code: no import cycles, no module-level state that decides an exit code,
commands above the library, package docstrings that list their members."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import posenc

SRC = Path(posenc.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every posenc module the file imports, anywhere in it: top level, inside functions,
    under TYPE_CHECKING."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] == "posenc"}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        edges[name] = {m for m in imports(path) if m in modules and m != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def without_packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's __init__ re-exports its members: `from posenc.data import X` inside
    posenc.data.reverse is a member reading its own package's contract, not a cycle of
    modules. Edges from a member to its own package's __init__ are dropped."""
    return {v: {w for w in ws if not v.startswith(w + ".")} for v, ws in edges.items()}


def test_no_import_cycles():
    assert cycles(without_packages(graph())) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_library_module_imports_a_command():
    commands = {m for m in graph() if m.startswith("posenc.cli")}
    shims = {"posenc.train", "posenc.compare", "posenc.plot", "posenc.export", "posenc.report"}
    shims |= {"posenc.sample"}
    offenders = {
        v: ws & commands for v, ws in graph().items() if v not in commands | shims and ws & commands
    }
    assert offenders == {}


def test_no_module_level_state_decides_an_exit_code():
    """`global` statements and sys.exit outside the command layer were how module state
    decided exit codes; the exit policy is posenc.jobs.exits, fed by typed exceptions."""
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        name = module_name(path)
        for node in ast.walk(tree):
            assert not isinstance(node, ast.Global), f"{name}: global statement"
            if name.startswith("posenc.cli") or name == "posenc.jobs.exits":
                continue
            if isinstance(node, ast.Attribute) and node.attr == "exit":
                assert getattr(node.value, "id", None) != "sys", f"{name}: sys.exit"


FAMILIES = {
    "posenc.data": ("dataset", "posenc.data"),
    "posenc.encodings": ("encoding", "posenc.encodings"),
    "posenc.models": ("model", "posenc.models"),
}


@pytest.mark.parametrize("package", sorted(FAMILIES))
def test_package_docstrings_list_their_members(package):
    """Every built-in option (a YAML in conf/<group>/) is named in its package's docstring."""
    from posenc.config.compose import config_dir

    group, _ = FAMILIES[package]
    doc = importlib.import_module(package).__doc__
    options = sorted(p.stem for p in Path(config_dir(), group).glob("*.yaml"))
    missing = [o for o in options if f"`{o}`" not in doc]
    assert options and missing == []
    members = [m.name for m in pkgutil.iter_modules(importlib.import_module(package).__path__)]
    assert members  # the package really is one module per member
