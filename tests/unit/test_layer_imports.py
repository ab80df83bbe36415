"""The layer's packages depend on each other in one direction only.

Each top-level subpackage or module of ``asana_integration`` (``models``, ``asana``, ``stores``, ``config`` …) is one
part; an import from one part into another is an edge, whether it runs at import time, inside a function or only for
type checking. Two checks:

* no cycle between parts: two parts that import each other can no longer be understood, tested or moved apart;
* every part sits in ``LAYERS`` and imports only parts of lower layers. Parts of one layer are peers that never import
  each other (the Asana package and the stores share models, not each other's modules). A new part must be placed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "asana_integration"

# Lowest first. Each part may import only parts of the layers before its own.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"config", "errors", "observability"}),
    frozenset({"models", "identity", "tenant_urls"}),
    frozenset({"asana", "stores"}),
    frozenset({"connections", "mapping", "sync", "sync_admin"}),
    frozenset({"settings", "webhooks"}),
    frozenset({"web"}),
)
LAYER_ROOT = Path(__file__).resolve().parents[2] / "layers" / "common"


def _part(module: str) -> str | None:
    """The top-level part of the package a dotted module name belongs to (``None`` outside the package)."""
    names = module.split(".")
    return names[1] if names[0] == PACKAGE and len(names) > 1 else None


def _module_name(path: Path) -> str:
    relative = path.relative_to(LAYER_ROOT).with_suffix("")
    names = list(relative.parts)
    return ".".join(names[:-1] if names[-1] == "__init__" else names)


def _imported_modules(path: Path) -> Iterator[str]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            yield stem
            # ``from asana_integration import stores`` names a part through the alias, not the module.
            yield from (f"{stem}.{alias.name}" for alias in node.names)


def _is_part(name: str) -> bool:
    """A subpackage or module of the package (not a name imported from its ``__init__``)."""
    return (LAYER_ROOT / PACKAGE / name).is_dir() or (LAYER_ROOT / PACKAGE / f"{name}.py").is_file()


def layer_graph() -> dict[str, set[str]]:
    """Each part of the package and the other parts it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted((LAYER_ROOT / PACKAGE).rglob("*.py")):
        source = _part(_module_name(path))
        if source is None:
            continue
        targets = graph.setdefault(source, set())
        for imported in _imported_modules(path):
            target = _part(imported)
            if target is not None and target != source and _is_part(target):
                targets.add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one part (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_the_layers_parts():
    graph = layer_graph()
    tangles = cycles(graph)
    described = [
        " ⇄ ".join(component) + ": " + "; ".join(f"{a} → {sorted(graph[a] & set(component))}" for a in component)
        for component in tangles
    ]

    assert not tangles, "import cycles in the layer:\n" + "\n".join(described)


def test_each_part_imports_only_lower_layers():
    rank = {part: level for level, parts in enumerate(LAYERS) for part in parts}
    graph = layer_graph()

    unplaced = sorted(part for part in graph if part not in rank)
    upward = sorted(
        f"{source} → {target}"
        for source, targets in graph.items()
        for target in targets
        if source in rank and target in rank and rank[target] >= rank[source]
    )

    assert not unplaced, f"parts missing from LAYERS (place each in its layer): {unplaced}"
    assert not upward, f"imports that go sideways or up a layer: {upward}"


def test_the_cycle_check_finds_a_cycle_and_accepts_a_chain():
    assert cycles({"stores": {"asana", "models"}, "asana": {"stores"}, "models": set()}) == [["asana", "stores"]]
    assert cycles({"web": {"settings"}, "settings": {"stores", "models"}, "stores": {"models"}, "models": set()}) == []


def test_the_graph_sees_the_layers_real_imports():
    # Guards the parser itself: a graph that saw nothing would pass the cycle check trivially.
    graph = layer_graph()

    assert "config" in graph["identity"]
    assert "errors" in graph["asana"]
