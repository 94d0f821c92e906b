"""The layout keeps its promise: dependencies point one way, from the edges
(api/, ui/, dicom/, admin, commands, tasks) to the services and selectors, and from
those to the models. A module importing against the arrow fails here, naming the
import, before it turns the domain into something only one channel can use."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKLIST = ROOT / "worklist"

EDGES = ("worklist.api", "worklist.ui", "worklist.dicom")
DOMAIN_LAYERS = {
    # module (prefix) -> the worklist packages it must not import
    "worklist.models": ("worklist.services", "worklist.selectors", *EDGES),
    "worklist.selectors": ("worklist.services", *EDGES),
    "worklist.services": EDGES,
    "worklist.identifiers": ("worklist.services", "worklist.selectors", *EDGES),
    "worklist.names": ("worklist.services", "worklist.selectors", *EDGES),
    "worklist.matching": ("worklist.services", "worklist.selectors", *EDGES),
    "worklist.vr": ("worklist.services", "worklist.selectors", *EDGES),
    "worklist.dicom": ("worklist.api", "worklist.ui"),
    "worklist.api": ("worklist.ui", "worklist.dicom"),
    "worklist.ui": ("worklist.api", "worklist.dicom"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[str]:
    """Every module an import statement of the file names, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found += [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
    return found


def layer_of(name: str) -> str | None:
    for layer in sorted(DOMAIN_LAYERS, key=len, reverse=True):
        if name == layer or name.startswith(layer + "."):
            return layer
    return None


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


SOURCES = sorted(p for p in WORKLIST.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_from_the_edges_to_the_domain(path):
    layer = layer_of(module_name(path))
    if layer is None:
        return
    wrong = [
        name
        for name in imported_modules(path)
        for forbidden in DOMAIN_LAYERS[layer]
        if within(name, forbidden)
    ]
    assert not wrong, f"{module_name(path)} ({layer}) imports {sorted(set(wrong))}"


def test_the_layers_named_here_exist():
    """A renamed package would make the check above vacuous."""
    for layer in ("worklist.models", "worklist.selectors", "worklist.services", *EDGES):
        path = ROOT / Path(*layer.split("."))
        assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), layer
