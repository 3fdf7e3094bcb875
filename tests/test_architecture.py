"""The house rules, checked on the source:

* core never imports Streamlit or the app; the app imports core's packages (their ``__init__``, the public
  face), never their inner modules;
* core is packages by concern in one declared layer order: a package imports only packages below it, and
  only through their faces; core's root holds ``__init__``, ``__main__`` and at most five pure re-export
  modules (the README's public API), which nothing inside core imports;
* no import circle (function-level imports included);
* no file over ~400 lines, no function over ~80 lines.

``__main__`` modules are entry points (``python -m core.certify``): never imported, they may import anything.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "app")
MAX_FILE_LINES = 420          # "~400": a few lines of slack for a docstring, never a second job
MAX_FUNCTION_LINES = 80
# core's packages, lowest first: each may import only the ones before it
LAYERS = ("util", "data", "model", "trace", "policies", "run", "analysis", "certify", "explain", "hf", "train",
          "cli")
ROOT_SHIMS_MAX = 5


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _import_nodes(path: Path, name: str):
    """(module imported, names taken from it) for every import statement, at any depth of the code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:                                         # relative import
                pkg = name.split(".")[: -node.level] if not path.name == "__init__.py" else name.split(".")
                base = ".".join(pkg + ([base] if base else []))
            yield base, tuple(a.name for a in node.names)


def _imports(path: Path, name: str) -> set[str]:
    """Every module this file imports (``from x import y`` counts y when it is a module, and x unless x is the
    importing module's own package: a sibling reached through its package)."""
    own_pkg = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
    found = set()
    for base, names in _import_nodes(path, name):
        subs = {f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES}
        found |= subs
        if not (subs and base == own_pkg):
            found.add(base)
    return found


MODULES = _modules()
GRAPH = {m: {i for i in _imports(p, m) if i in MODULES and i != m} for m, p in MODULES.items()}
CORE_PACKAGES = sorted({m.split(".")[1] for m in MODULES if m.count(".") >= 1 and m.startswith("core.")
                        and (ROOT / "core" / m.split(".")[1]).is_dir()})
ROOT_MODULES = sorted(m for m, p in MODULES.items() if m.startswith("core.") and p.parent == ROOT / "core"
                      and p.stem not in ("__init__", "__main__"))


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "core" and len(parts) > 1 and parts[1] in LAYERS else None


def test_core_never_imports_streamlit_or_app():
    bad = {m: sorted(i for i in _imports(p, m) if i.split(".")[0] in ("streamlit", "app"))
           for m, p in MODULES.items() if m.startswith("core")}
    assert not {m: v for m, v in bad.items() if v}


def test_every_core_package_has_a_layer():
    assert set(CORE_PACKAGES) == set(LAYERS), "declare each package of core/ in LAYERS (and nothing else)"


def test_core_root_is_faces_only():
    assert len(ROOT_MODULES) <= ROOT_SHIMS_MAX, f"core/ root modules: {ROOT_MODULES}"
    for m in ROOT_MODULES:
        tree = ast.parse(MODULES[m].read_text(encoding="utf-8"))
        defs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert not defs, f"{m} is a re-export module: move {defs} into a package"


def _edges_across_packages():
    for m, p in MODULES.items():
        pkg = _package(m)
        if not m.startswith("core.") or m.endswith("__main__") or m in ROOT_MODULES or pkg is None:
            continue
        for base, names in _import_nodes(p, m):
            yield m, pkg, base, names


def test_packages_import_only_packages_below_them():
    up = sorted(f"{m} → {base}" for m, pkg, base, _ in _edges_across_packages()
                if _package(base) and _package(base) != pkg and LAYERS.index(_package(base)) > LAYERS.index(pkg))
    assert not up, "imports against the layer order " + " < ".join(LAYERS) + ": " + "; ".join(up)


def test_nothing_inside_core_imports_the_root_reexports():
    bad = sorted(f"{m} → {base}" for m, _, base, names in _edges_across_packages()
                 if base in ROOT_MODULES or (base == "core" and any(f"core.{n}" in ROOT_MODULES for n in names)))
    assert not bad, "core's packages import each other, not the root's public re-exports: " + "; ".join(bad)


def test_other_packages_are_imported_through_their_faces():
    deep = sorted(f"{m} → {base}" for m, pkg, base, _ in _edges_across_packages()
                  if _package(base) and _package(base) != pkg and base.count(".") > 1)
    app_deep = sorted(f"{m} → {base}" for m, p in MODULES.items() if m.startswith("app")
                      for base, _ in _import_nodes(p, m) if base.startswith("core.") and base.count(".") > 1)
    assert not deep + app_deep, "import core.<package>, not its inner modules: " + "; ".join(deep + app_deep)


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


def test_the_public_api_in_the_readme_imports():
    import importlib
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Public API"):readme.index("## Layout")]
    rows = re.findall(r"^\| `(core\.[\w.]+)` \| (.+) \|$", table, flags=re.M)
    assert len(rows) >= 8
    for module, names in rows:
        mod = importlib.import_module(module)
        for name in re.findall(r"`(\w+)`", names):
            assert hasattr(mod, name), f"README promises {module}.{name}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_files_and_functions_stay_small(name):
    path = MODULES[name]
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{path.relative_to(ROOT)} has {len(text.splitlines())} lines"
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.relative_to(ROOT)}: functions over {MAX_FUNCTION_LINES} lines: {long}"
