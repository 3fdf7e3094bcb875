"""The house rules, checked on the source: app → core only, core never imports Streamlit, no import circle
(function-level imports included), no file over ~400 lines, no function over ~80 lines."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "app")
MAX_FILE_LINES = 420          # "~400": a few lines of slack for a docstring, never a second job
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imports(path: Path, name: str) -> set[str]:
    """Every module this file imports, at any depth of the code (``from x import y`` counts y when it is a
    module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:                                         # relative import
                pkg = name.split(".")[: -node.level] if not path.name == "__init__.py" else name.split(".")
                base = ".".join(pkg + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


MODULES = _modules()
GRAPH = {m: {i for i in _imports(p, m) if i in MODULES and i != m} for m, p in MODULES.items()}


def test_core_never_imports_streamlit_or_app():
    bad = {m: sorted(i for i in _imports(p, m) if i.split(".")[0] in ("streamlit", "app"))
           for m, p in MODULES.items() if m.startswith("core")}
    assert not {m: v for m, v in bad.items() if v}


def test_no_import_circle():
    seen, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for n in sorted(GRAPH[m]):
            visit(n)
        stack.pop()

    for m in sorted(GRAPH):
        visit(m)
    assert not cycles, "import circles: " + "; ".join(" → ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_files_and_functions_stay_small(name):
    path = MODULES[name]
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{path.relative_to(ROOT)} has {len(text.splitlines())} lines"
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.relative_to(ROOT)}: functions over {MAX_FUNCTION_LINES} lines: {long}"
