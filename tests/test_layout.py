"""The folder tree is the architecture: imports run downwards only, and there is no circle.

Floors, top down: pages/ui > fer.cli, fer.preflight, fer.bench > fer.classroom > fer.config >
fer.vision > fer.emotions, fer.charts, fer.errors, fer.resources. fer.training is a wing beside the serving
stack: it may use vision, but nothing that serves imports it. Every import counts, including
ones inside functions, so a lazy import cannot hide a wrong-way dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FER = ROOT / "fer"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module the file imports, resolved to names (``from fer.vision import crop`` counts
    as ``fer.vision.crop`` when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if (ROOT / (candidate.replace(".", "/") + ".py")).exists() or (ROOT / candidate.replace(".", "/")).is_dir():
                    found.add(candidate)
    return found


LIBRARY = {_module_name(p): _imports(p) for p in FER.rglob("*.py")}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _offenders(sources: str | tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    sources = (sources,) if isinstance(sources, str) else sources
    return sorted(
        f"{module} imports {target}"
        for module, targets in LIBRARY.items()
        if any(_within(module, s) for s in sources)
        for target in targets
        if any(_within(target, f) for f in forbidden)
    )


def test_the_library_never_imports_streamlit():
    assert _offenders("fer", ("streamlit", "streamlit_webrtc", "ui", "pages")) == []


def test_vision_never_imports_the_classroom_or_the_commands_above_it():
    assert _offenders("fer.vision", ("fer.classroom", "fer.config", "fer.cli", "fer.preflight", "fer.bench")) == []


def test_serving_code_never_imports_training_or_benchmarks():
    serving = ("fer.vision", "fer.classroom", "fer.config", "fer.emotions", "fer.charts", "fer.errors", "fer.resources", "fer.preflight", "fer.cli")
    assert _offenders(serving, ("fer.training", "fer.bench")) == []


def test_the_model_contract_the_charts_and_the_exceptions_import_nothing_of_ours_above_them():
    assert _offenders(("fer.emotions", "fer.charts", "fer.errors", "fer.resources"), ("fer.vision", "fer.classroom", "fer.config", "fer.training", "fer.bench")) == []


def test_the_classroom_imports_nothing_above_it():
    assert _offenders("fer.classroom", ("fer.cli", "fer.preflight", "fer.bench", "fer.training")) == []


def test_the_store_base_never_imports_its_backends():
    assert _offenders("fer.classroom.store.base", ("fer.classroom.store.sqlite", "fer.classroom.store.redis", "fer.classroom.store.buffer", "fer.classroom.store.factory")) == []


def test_no_import_cycle_between_library_modules():
    graph = {m: {t for t in targets if t in LIBRARY and t != m} for m, targets in LIBRARY.items()}
    # A package's __init__ is imported with any of its modules: count an edge to a module as an
    # edge to its packages too, except a module's own parents (Python imports those first anyway).
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if state.get(module) is None and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_at_most_a_dozen_modules_sit_directly_in_the_package():
    top = sorted(p.name for p in FER.glob("*.py"))
    assert len(top) <= 12, top


def test_tests_mirror_the_packages():
    """Each subpackage of fer/ has its test folder; a test of a vision module lives in tests/vision."""
    for package in (p for p in FER.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        assert (ROOT / "tests" / package.name).is_dir(), f"tests/{package.name}/ missing for fer/{package.name}/"
