"""The repository's layout: research and tooling stay out of the library.

- No module of ``deblur/`` imports from ``experiments/``, ``bench/`` or ``tools/``.
- No Python file outside the package imports a private module
  (``deblur._io``, ``from deblur import _validation``, ...): scripts use the
  public API, so the package can reorganise its internals freely.

Imports are read with :mod:`ast`, so nothing is executed.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "deblur"
#: Folders that are not the project's code.
SKIPPED = {".git", ".venv", "venv", "build", "dist", "node_modules", "__pycache__"}


def _python_files(folder):
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if not any(part in SKIPPED or part.startswith(".") or part.endswith(".egg-info") for part in parts):
            yield path


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
