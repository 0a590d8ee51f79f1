"""The shape of the code: no import cycles, no module-level state that decides an exit code,
commands above the library, package docstrings that list their members."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import posenc

SRC = Path(posenc.__file__).parent
ROOT = SRC.parents[1]


def commands() -> list[str]:
    """The documented commands, from pyproject's [project.scripts]: posenc-X -> posenc.X."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return sorted(name.removeprefix("posenc-") for name in scripts)


COMMANDS = commands()


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


def test_no_import_cycles():
    """Package __init__s count: a member that reads its package's contract and an __init__
    that imports its members would be a circle."""
    assert cycles(graph()) == []


# The floors, lowest first: a module imports from its own floor or below, never above.
FLOORS = (
    ("posenc.errors", "posenc.memory", "posenc.metrics", "posenc.progress", "posenc.signatures"),
    ("posenc.data", "posenc.encodings", "posenc.models", "posenc.optim"),
    ("posenc.store",),
    ("posenc.analysis",),
    ("posenc.config",),
    ("posenc.jobs",),
    ("posenc.api", "posenc.cli", *(f"posenc.{c}" for c in COMMANDS), "posenc"),
)


def floor(module: str) -> int:
    """The floor of the longest name in FLOORS that `module` is or lies under."""
    found = [
        (len(name), i)
        for i, names in enumerate(FLOORS)
        for name in names
        if module == name or module.startswith(name + ".")
    ]
    assert found, f"{module} is on no floor: add it to FLOORS"
    return max(found)[1]


def test_no_arrow_back_up():
    up = sorted(f"{v} -> {w}" for v, ws in graph().items() for w in ws if floor(w) > floor(v))
    assert up == []


def test_the_floor_finder_sees_an_arrow_up():
    assert floor("posenc.store.run_folder") > floor("posenc.data.text")
    assert floor("posenc.jobs.kinds.text") == floor("posenc.jobs")


def package_sizes() -> dict[str, int]:
    """Modules per package, its __init__ not counted (it is the package)."""
    sizes = {}
    for folder in [SRC, *(p for p in SRC.rglob("*") if (p / "__init__.py").is_file())]:
        sizes[str(folder.relative_to(SRC.parent))] = sum(
            1 for p in folder.glob("*.py") if p.name != "__init__.py"
        )
    return sizes


def test_no_package_over_twelve_modules():
    assert {k: n for k, n in package_sizes().items() if n > 12} == {}


def long_functions(limit: int = 60) -> list[str]:
    found = []
    for path in SRC.parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(SRC.parent)}:{node.name} ({lines} lines)")
    return found


def test_no_function_over_sixty_lines():
    assert long_functions() == []


def test_the_job_never_asks_which_kind_it_holds():
    """What differs between kinds of run is the kind's (posenc.jobs.kinds)."""
    job = (SRC / "jobs" / "job.py").read_text()
    assert len(job.splitlines()) < 300
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for guess in ("is_text", "task is None", "task is not None", "isinstance(task"):
            assert guess not in text, f"{path.relative_to(SRC)}: {guess}"


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_library_module_imports_a_command():
    commands = {m for m in graph() if m.startswith("posenc.cli")}
    shims = {f"posenc.{c}" for c in COMMANDS}
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


def module_map() -> list[str]:
    """The README's module map: its bullet lines, each joined to one line."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Module map", 1)[1].split("\n\nWhat a change touches", 1)[0]
    return [" ".join(item.split()) for item in section.split("\n- ") if item.strip()]


def test_the_readme_module_map_lists_every_module_and_command():
    items = module_map()
    for path in sorted(SRC.parent.rglob("*.py")):
        if path.name == "__init__.py" and path.parent != SRC:
            continue
        package, name = f"{path.parent.relative_to(SRC.parent)}/", path.name
        if name == "__init__.py":
            continue
        assert any(f"`{package}`" in i and f"`{name}`" in i for i in items), (
            f"{package}{name} is not in the README's module map"
        )
    named = {(i.split("`")[1], n) for i in items for n in re.findall(r"`([\w]+\.py)`", i)}
    for package, name in named:
        if name != "__init__.py":
            assert (SRC.parent / package / name).is_file(), f"the map names {package}{name}"
    top, cli = (
        next(i for i in items if i.startswith(f"`{p}`")) for p in ("posenc/", "posenc/cli/")
    )
    for command in COMMANDS:  # its shim and its module, and how it is run
        assert f"`{command}.py`" in top and f"`{command}.py`" in cli
        assert command in top.split("python -m posenc.", 1)[1].split("`")[0].split("|")
