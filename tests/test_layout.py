"""The repository's layout: research and tooling stay out of the library.

- No module of ``deblur/`` imports from ``experiments/``, ``bench/`` or ``tools/``.
- No Python file outside the package imports a private module
  (``deblur._io``, ``from deblur import _validation``, ...): scripts use the
  public API, so the package can reorganise its internals freely.

Imports are read with :mod:`ast`, so nothing is executed.
"""

import ast
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "deblur"
#: Folders that are not the project's code.
SKIPPED = {".git", ".venv", "venv", "build", "dist", "node_modules", "__pycache__"}


def _python_files(folder):
    """The project's .py files under ``folder``; skipped folders are pruned, not walked (a virtualenv is large)."""
    found = []
    for here, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if not (f in SKIPPED or f.startswith(".") or f.endswith(".egg-info"))]
        found += [Path(here) / f for f in files if f.endswith(".py")]
    return sorted(found)


def _imported_modules(path):
    """Every absolute module name ``path`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _where(path, line):
    return f"{path.relative_to(ROOT)}:{line}"


PACKAGE_FILES = list(_python_files(PACKAGE))
OUTSIDE_FILES = [p for p in _python_files(ROOT) if PACKAGE not in p.parents]


def test_the_walk_finds_the_code():
    names = {p.relative_to(ROOT).as_posix() for p in PACKAGE_FILES + OUTSIDE_FILES}
    assert {"deblur/models.py", "svg/make_svg.py", "experiments/ablation.py", "tests/test_layout.py"} <= names


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_package_does_not_import_research_or_benchmarks(path):
    bad = [
        _where(path, line)
        for line, name in _imported_modules(path)
        if name.split(".")[0] in ("experiments", "bench", "tools")
    ]
    assert not bad, f"deblur/ must not import from experiments/, bench/ or tools/: {bad}"


def test_no_script_outside_the_package_imports_a_private_module():
    bad = []
    for path in OUTSIDE_FILES:
        for line, name in _imported_modules(path):
            top, _, rest = name.partition(".")
            module = rest.split(".")[0]
            where = _where(path, line)
            if top == "deblur" and module.startswith("_") and not module.startswith("__") and where not in bad:
                bad.append(where)
    assert not bad, f"Outside deblur/, import public modules only (deblur.files, ...), not deblur._*: {bad}"


def test_tooling_and_research_live_outside_the_package():
    assert not (PACKAGE / "diagrams.py").exists()  # svg/diagrams.py, used by svg/make_svg.py
    assert (ROOT / "svg" / "diagrams.py").is_file()
    assert (ROOT / "experiments" / "candidates.py").is_file()
    assert not any((PACKAGE / f"{name}.py").exists() for name in ("profiles", "reproduce", "candidates", "reports", "records"))
    assert (ROOT / "tools" / "reports.py").is_file() and (ROOT / "tools" / "records.py").is_file()


# ------------------------------------------------------------ the package's own shape


def _package_module(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _internal_imports(path):
    """The deblur modules ``path`` imports, at any depth (inside functions too), relative ones resolved."""
    module = _package_module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    known = {_package_module(p) for p in PACKAGE_FILES}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        found |= {n for n in names if n in known and n != module}
    return found


def test_the_package_has_no_import_cycle_counting_imports_inside_functions():
    graph = {_package_module(p): _internal_imports(p) for p in PACKAGE_FILES}
    # A package's __init__ re-exporting its own submodules is not a cycle of concepts.
    graph = {m: {d for d in deps if not m.startswith(d + ".") and not (m == "deblur")} for m, deps in graph.items()}
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                raise AssertionError(f"import cycle: {' -> '.join(stack[stack.index(dep):] + [dep])}")
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_module_of_the_package_is_over_700_lines_and_only_the_top_is_lazy():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE_FILES}
    assert max(sizes.values()) <= 700, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    lazy = [p.relative_to(ROOT).as_posix() for p in PACKAGE_FILES
            if any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
                   for n in ast.parse(p.read_text(encoding="utf-8")).body)]
    assert lazy == ["deblur/__init__.py"], lazy  # PEP 562 lazy loading at the top only


def test_nothing_in_the_package_maintains_the_repository():
    for path in PACKAGE_FILES:
        text = path.read_text(encoding="utf-8")
        for marker in ("README.md", "docs/", "reports/"):
            code = [line for line in text.splitlines() if marker in line and not line.lstrip().startswith("#")
                    and "open(" in line or (marker in line and "Path(" in line)]
            assert not code, f"{path.relative_to(ROOT)} touches {marker}: {code[:1]}"
