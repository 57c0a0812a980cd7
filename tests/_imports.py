"""The import graph of a package, read from its source with `ast` (nothing is imported).

Used by tests/unit/test_layers.py. What counts as an import, and why:

- `import pkg.a.b`, `from pkg.a import b` (b a submodule: an import of pkg.a.b, otherwise of pkg.a),
  relative imports, `from pkg.a import *`. Names that resolve to no module of the package are
  taken as the longest prefix that does.
- Imports inside functions count: they run the first time the function is called, so a lazy
  import is still a runtime dependency (it only moves the cost). Chains mark them "in a function".
- Imports under `if TYPE_CHECKING:` never run; they are kept with kind "type_checking" so a test
  can list them, but `runtime_graph` leaves them out of cycles and layer rules.
- Importing pkg.a.b first runs pkg/a/__init__.py, so every module has a "parent" edge to its
  package: re-exports in a package `__init__` are followed like any other import.
- The root `pkg/__init__.py` is the public facade: it may import anything lazily, and every import
  of the package runs it, so `runtime_graph` drops edges from and to it.
- Dynamic imports (`importlib.import_module`, `__import__`) are not seen.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TOP, FUNCTION, TYPE_CHECKING, PARENT = "top", "function", "type_checking", "parent"


@dataclass(frozen=True)
class Import:
    """One edge of the graph: `importer` runs `target` (both dotted module names)."""

    importer: str
    target: str
    path: str  # the importer's file, relative to the folder holding the package
    line: int  # 0 for a parent edge
    kind: str  # TOP, FUNCTION, TYPE_CHECKING or PARENT

    def describe(self) -> str:
        if self.kind == PARENT:
            return f"{self.importer} runs its package {self.target}/__init__.py"
        where = {TOP: "", FUNCTION: " (in a function)", TYPE_CHECKING: " (TYPE_CHECKING)"}[
            self.kind
        ]
        return f"{self.path}:{self.line} imports {self.target}{where}"


Graph = dict[str, list[Import]]


def find_modules(package_dir: Path) -> dict[str, Path]:
    """Dotted name -> file for every module of the package at `package_dir` (an `__init__`
    stands for its package)."""
    root = package_dir.name
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [root, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(
    node: ast.AST, kind: str = TOP
) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement in `node` with its kind. Under `if TYPE_CHECKING:` nothing runs,
    even inside a function there; the `else:` branch runs as its surroundings do."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, kind
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for statement in node.body:
            yield from _import_nodes(statement, TYPE_CHECKING)
        for statement in node.orelse:
            yield from _import_nodes(statement, kind)
        return
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and kind == TOP:
        kind = FUNCTION
    for child in ast.iter_child_nodes(node):
        yield from _import_nodes(child, kind)


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """`name` or its longest prefix that is a module of the package."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def _targets(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: dict[str, Path]
) -> set[str]:
    """The package's modules that one import statement runs (besides their parent packages)."""
    root = importer.split(".")[0]
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
        return {t for n in names if n.split(".")[0] == root and (t := _known(n, modules))}
    if node.level:
        base_parts = importer.split(".")
        if not is_package:
            base_parts.pop()
        base_parts = base_parts[: len(base_parts) - (node.level - 1)]
        base = ".".join([*base_parts, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    if base.split(".")[0] != root:
        return set()
    found = set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        target = submodule if submodule in modules else _known(base, modules)
        if target:
            found.add(target)
    return found


def read_imports(package_dir: Path) -> list[Import]:
    """Every import of a module of the package by a module of the package, plus parent edges."""
    modules = find_modules(package_dir)
    imports = []
    for name, path in modules.items():
        relative = path.relative_to(package_dir.parent).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, kind in _import_nodes(tree):
            for target in sorted(_targets(node, name, is_package, modules)):
                if target != name:
                    imports.append(Import(name, target, relative, node.lineno, kind))
        if "." in name:
            imports.append(Import(name, name.rsplit(".", 1)[0], relative, 0, PARENT))
    return imports


def runtime_graph(imports: Iterable[Import]) -> Graph:
    """Module -> the imports it runs: no TYPE_CHECKING edges, nothing from or to the root facade."""
    graph: Graph = {}
    for edge in imports:
        graph.setdefault(edge.importer, [])
        graph.setdefault(edge.target, [])
        if edge.kind != TYPE_CHECKING and "." in edge.importer and "." in edge.target:
            graph[edge.importer].append(edge)
    return {module: edges for module, edges in graph.items() if "." in module}


# Modules that only describe a folder format (file names, the typed tuneforge.json) form a unit
# of their own below their package: predict reads them while run.evaluation uses predict, and the
# run package's __init__ re-exports nothing (it belongs to the format unit: importing run.info
# runs it), so there is no cycle at run time. test_layers checks that this unit imports nothing
# above it.
FORMAT_MODULES = {"run": "run.format", "run.layout": "run.format", "run.info": "run.format"}


def unit_of(module: str) -> str:
    """`pkg.data.load` -> "data"; `pkg.predict` -> "predict" (a top-level subpackage or module);
    `pkg.run.info` -> "run.format" (see FORMAT_MODULES)."""
    parts = module.split(".")
    return FORMAT_MODULES.get(".".join(parts[1:3]), parts[1])


def _shortest_path(graph: Graph, sources: Iterable[str], is_goal) -> list[Import] | None:
    """Breadth-first: the fewest edges from any source to a module for which `is_goal` holds."""
    reached: dict[str, Import | None] = {source: None for source in sources}
    queue = deque(reached)
    while queue:
        module = queue.popleft()
        if is_goal(module):
            chain = []
            while (edge := reached[module]) is not None:
                chain.append(edge)
                module = edge.importer
            return chain[::-1]
        for edge in graph.get(module, []):
            if edge.target not in reached:
                reached[edge.target] = edge
                queue.append(edge.target)
    return None


def reach_chain(graph: Graph, source_unit: str, forbidden_unit: str) -> list[Import] | None:
    """The shortest chain of runtime imports from a module of one unit to a module of another."""
    sources = sorted(m for m in graph if unit_of(m) == source_unit)
    return _shortest_path(graph, sources, lambda module: unit_of(module) == forbidden_unit)


def unit_cycles(graph: Graph) -> list[list[Import]]:
    """Cycles between units, each as the module-level imports that close it.

    For every import that crosses from unit A to unit B, the shortest way back from B to A closes
    a cycle; cycles that visit the same units in the same order are reported once. So every
    cross-unit import that sits on some cycle shows up in at least one reported cycle.
    """
    best: dict[tuple[str, ...], tuple[tuple[bool, int], list[Import]]] = {}
    crossing = [
        e for edges in graph.values() for e in edges if unit_of(e.importer) != unit_of(e.target)
    ]
    for edge in sorted(crossing, key=lambda e: (e.importer, e.target, e.line)):
        home = unit_of(edge.importer)
        back = _shortest_path(
            graph, [edge.target], lambda module, home=home: unit_of(module) == home
        )
        if back is None:
            continue
        chain = [edge, *back]
        units = _unit_path(chain)[:-1]
        start = units.index(min(units))
        key = tuple(units[start:] + units[:start])
        # Prefer the chain that starts at the cycle's alphabetically first unit, then the shortest.
        rank = (start != 0, len(chain))
        if key not in best or rank < best[key][0]:
            best[key] = (rank, chain)
    return [best[key][1] for key in sorted(best)]


def _unit_path(chain: list[Import]) -> list[str]:
    units = [unit_of(chain[0].importer)]
    for edge in chain:
        if unit_of(edge.target) != units[-1]:
            units.append(unit_of(edge.target))
    return units


def format_chain(chain: list[Import]) -> str:
    """`evaluate -> predict -> evaluate` on one line, then one line per module-level import."""
    return "\n".join([" -> ".join(_unit_path(chain)), *(f"    {e.describe()}" for e in chain)])
