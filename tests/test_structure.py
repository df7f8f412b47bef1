"""The shape of the house, read from the code's own imports (every import, the lazy ones
inside functions too):

- no module imports a private name (one leading underscore) from a module of another
  package: what another package needs is public there;
- dependencies run one way (``../shared/DESIGN.md``): ``cli -> estimators -> model -> ops ->
  gpu``; ``data`` below ``estimators`` (and ``model``, for its tensor types); ``datasets``
  uses only ``data``; ``bench`` and ``distributed`` beside the estimators, used by ``cli``;
- sizes (issue 11): no function over 60 lines (docstring aside), no module over 500 lines,
  the kernels (``KERNELS``) aside.

An exception the code cannot lose yet is an entry in an allow-list below that names the file
and why; the tests fail on anything else, and on an entry that is no longer needed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# source folder -> the package it installs as (pyproject's package-dir)
PACKAGE_DIRS = {"itnet_ts": "itnet_ts", "cli": "itnet_ts.cli", "datasets": "itnet_ts.datasets"}


@dataclass(frozen=True)
class Import:
    file: str  # path from the repository root
    line: int
    importer: str  # module name, e.g. itnet_ts.cli._train
    target: str  # the module imported from, e.g. itnet_ts.data._ingest
    name: str | None  # the name taken from it (from-imports), else None


def _module_name(file: Path) -> tuple[str, bool]:
    rel = file.relative_to(ROOT).with_suffix("")
    parts = [PACKAGE_DIRS[rel.parts[0]], *rel.parts[1:]]
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


@cache
def imports() -> tuple[Import, ...]:
    found = []
    for folder in PACKAGE_DIRS:
        for file in sorted((ROOT / folder).rglob("*.py")):
            module, is_package = _module_name(file)
            here = module.split(".") if is_package else module.split(".")[:-1]
            rel = file.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom):
                    if node.level:
                        base = here[: len(here) - (node.level - 1)]
                        target = ".".join(base + ([node.module] if node.module else []))
                    else:
                        target = node.module or ""
                    for alias in node.names:
                        found.append(Import(rel, node.lineno, module, target, alias.name))
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        found.append(Import(rel, node.lineno, module, alias.name, None))
    return tuple(i for i in found if i.target.split(".")[0] == "itnet_ts")


@cache
def packages() -> frozenset[str]:
    """The package names of the source folders (every folder with an ``__init__.py``)."""
    return frozenset(
        _module_name(init)[0]
        for folder in PACKAGE_DIRS
        for init in (ROOT / folder).rglob("__init__.py")
    )


def _package(module: str) -> str:
    """The package a module lies in (a package's ``__init__`` lies in the package itself)."""
    return module if module in packages() else module.rpartition(".")[0]


def _private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not name.startswith("__")


# ---- private names --------------------------------------------------------------------------

# file -> {(module, name): why}; the file still imports these private names across packages
PRIVATE_ALLOWED: dict[str, dict[tuple[str, str], str]] = {}


def test_no_private_name_is_imported_from_another_package():
    offenders, used = [], set()
    for imp in imports():
        if not _private(imp.name) or _package(imp.target) == _package(imp.importer):
            continue
        if (imp.target, imp.name) in PRIVATE_ALLOWED.get(imp.file, {}):
            used.add((imp.file, imp.target, imp.name))
            continue
        offenders.append(f"{imp.file}:{imp.line} imports {imp.name} from {imp.target}")
    assert not offenders, (
        "private names imported from another package (make them public there, or move the "
        "code):\n" + "\n".join(offenders)
    )
    stale = [
        f"{file}: {target}.{name}"
        for file, entries in PRIVATE_ALLOWED.items()
        for target, name in entries
        if (file, target, name) not in used
    ]
    assert not stale, "allow-list entries no longer needed:\n" + "\n".join(stale)


# ---- layers ---------------------------------------------------------------------------------

# the parts of the house and the parts each may import directly (and what those may, in turn)
MAY_USE = {
    "ground": set(),  # itnet_ts.errors, itnet_ts._files: used by every part
    "gpu": {"ground"},
    "ops": {"gpu"},
    "data": {"ground"},
    "model": {"ops", "data"},  # data: the batch tensor types
    "estimators": {"model", "data"},
    "metrics": {"data"},  # itnet_ts.metrics, itnet_ts.plotting: frames in, scores / figures out
    "datasets": {"data"},
    "distributed": {"estimators"},
    "bench": {"estimators", "metrics", "datasets"},
    "cli": {"bench", "distributed", "estimators", "metrics", "datasets"},
}
TOP_LEVEL = {
    "itnet_ts.errors": "ground",
    "itnet_ts._files": "ground",
    "itnet_ts._scan_signature": "ground",  # the scan's checks, shared by ops and gpu
    "itnet_ts.metrics": "metrics",
    "itnet_ts.plotting": "metrics",
}

# (importer file, the part it reaches): why the code still does it
LAYER_ALLOWED = {
    ("datasets/protocol.py", "metrics"): (
        "protocol_metrics, the published protocol's metric, is part of the protocol's "
        "definition (public API, documented with it) and scores with the library's "
        "itnet_ts.metrics.per_variable_mse_mae rather than restating it; its users are "
        "bench/runs.py, runs_itnet.py and runs_grud.py"
    ),
}


def _part(module: str) -> str:
    if module in TOP_LEVEL:
        return TOP_LEVEL[module]
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in MAY_USE:
        return parts[1]
    raise AssertionError(f"{module}: which part of the house is it? (add it to TOP_LEVEL)")


def _reach(part: str) -> set[str]:
    seen, todo = set(), [part]
    while todo:
        for below in MAY_USE[todo.pop()]:
            if below not in seen:
                seen.add(below)
                todo.append(below)
    return seen


def _parts_of_root_import(imp: Import) -> list[str]:
    """``from itnet_ts import X``: the root only hands names on (lazily); X's part counts."""
    import itnet_ts

    if imp.name is None or imp.name == "__version__":
        return ["ground"]
    module = itnet_ts._LAZY.get(imp.name, "itnet_ts.errors")
    return [_part(module)]


def test_dependencies_run_one_way():
    offenders, used = [], set()
    for imp in imports():
        if imp.importer == "itnet_ts":
            continue  # the package's face: it hands every public name on, lazily
        mine = _part(imp.importer)
        targets = _parts_of_root_import(imp) if imp.target == "itnet_ts" else [_part(imp.target)]
        for target in targets:
            if target == mine or target in _reach(mine):
                continue
            if (imp.file, target) in LAYER_ALLOWED:
                used.add((imp.file, target))
                continue
            offenders.append(f"{imp.file}:{imp.line} ({mine}) imports {imp.target} ({target})")
    assert not offenders, "imports against the layers:\n" + "\n".join(offenders)
    stale = sorted(set(LAYER_ALLOWED) - used)
    assert not stale, f"allow-list entries no longer needed: {stale}"


def test_the_layers_have_no_cycle():
    for part in MAY_USE:
        assert part not in _reach(part), f"{part} reaches itself"


def test_the_checks_see_the_imports_they_guard():
    """The walk finds lazy imports inside functions and resolves relative ones."""
    found = {(i.file, i.target, i.name) for i in imports()}
    assert ("cli/main.py", "itnet_ts.cli._train", "forecast") in found  # relative
    assert ("itnet_ts/ops/dispatch.py", "itnet_ts.gpu", "load_scan_cuda") in found  # lazy
    assert _part("itnet_ts.cli._train") == "cli" and _part("itnet_ts.data._ingest") == "data"


# ---- sizes (issue 11) -----------------------------------------------------------------------

MAX_FUNCTION_LINES = 60  # from ``def`` to its last line, decorators and docstring not counted
MAX_MODULE_LINES = 500

# Kernels are exempt: their code is laid out for the compiler (numba's fused nogil loops; the
# CUDA launch wrappers beside scan.cu), and each is checked against the PyTorch reference in
# tests/ops and tests/gpu; reshaping one is a performance change with its own benchmarks.
KERNELS = {
    "itnet_ts/ops/scan_numba.py": "numba kernels of the recurrent scan (forward and backward)",
    "itnet_ts/ops/read_numba.py": "numba kernel of the decoder's read",
    "itnet_ts/gpu/": "CUDA (CuPy RawModule) kernels of the scan and their launch wrappers",
}


def _is_kernel(rel: str) -> bool:
    return any(rel == k or (k.endswith("/") and rel.startswith(k)) for k in KERNELS)


def _docstring_lines(node: ast.AST) -> int:
    body = node.body  # type: ignore[attr-defined]
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first.end_lineno - first.lineno + 1  # type: ignore[operator]
    return 0


def _only_stores_its_parameters(node: ast.FunctionDef) -> bool:
    """An sklearn ``__init__``: its body (after the docstring) is ``self.p = p`` for each of its
    parameters, nothing else -- its length is the number of hyperparameters, not logic."""
    if node.name != "__init__":
        return False
    args = node.args
    params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs][1:]
    body = node.body[1:] if _docstring_lines(node) else node.body
    stored = []
    for stmt in body:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Attribute)
            and isinstance(stmt.targets[0].value, ast.Name)
            and stmt.targets[0].value.id == "self"
            and isinstance(stmt.value, ast.Name)
            and stmt.value.id == stmt.targets[0].attr
        ):
            return False
        stored.append(stmt.value.id)
    return stored == params


def function_lengths() -> dict[tuple[str, str], int]:
    """(file, qualified name) -> lines of every function outside the kernels."""
    found: dict[tuple[str, str], int] = {}

    def walk(node: ast.AST, rel: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                if not _only_stores_its_parameters(child):  # type: ignore[arg-type]
                    lines = child.end_lineno - child.lineno + 1 - _docstring_lines(child)
                    found[rel, name] = lines  # type: ignore[operator]
                walk(child, rel, name + ".")
            elif isinstance(child, ast.ClassDef):
                walk(child, rel, prefix + child.name + ".")
            else:
                walk(child, rel, prefix)

    for folder in PACKAGE_DIRS:
        for file in sorted((ROOT / folder).rglob("*.py")):
            rel = file.relative_to(ROOT).as_posix()
            if not _is_kernel(rel):
                walk(ast.parse(file.read_text(encoding="utf-8")), rel, "")
    return found


def module_lengths() -> dict[str, int]:
    return {
        file.relative_to(ROOT).as_posix(): len(file.read_text(encoding="utf-8").splitlines())
        for folder in PACKAGE_DIRS
        for file in sorted((ROOT / folder).rglob("*.py"))
        if not _is_kernel(file.relative_to(ROOT).as_posix())
    }


def test_no_function_is_over_60_lines():
    offenders = [
        f"{file}: {name} has {n} lines (at most {MAX_FUNCTION_LINES}, docstring aside)"
        for (file, name), n in sorted(function_lengths().items())
        if n > MAX_FUNCTION_LINES
    ]
    assert not offenders, "split these into named steps:\n" + "\n".join(offenders)


def test_no_module_is_over_500_lines():
    offenders = [
        f"{file}: {n} lines (at most {MAX_MODULE_LINES})"
        for file, n in sorted(module_lengths().items())
        if n > MAX_MODULE_LINES
    ]
    assert not offenders, "split these by responsibility:\n" + "\n".join(offenders)


def test_the_size_checks_measure_what_they_say():
    """The kernels are named files that exist; docstrings do not count; an sklearn
    ``__init__`` that stores its parameters is not measured, one with logic is."""
    for kernel in KERNELS:
        assert (ROOT / kernel).exists(), kernel
    tree = ast.parse(
        "def f(a):\n    '''doc\n    more'''\n    return a\n\n"
        "class E:\n    def __init__(self, a, b=1):\n        self.a = a\n        self.b = b\n\n"
        "class G:\n    def __init__(self, a):\n        self.a = a + 1\n"
    )
    f, e, g = tree.body
    assert f.end_lineno - f.lineno + 1 - _docstring_lines(f) == 2
    assert _only_stores_its_parameters(e.body[0])
    assert not _only_stores_its_parameters(g.body[0])
    lengths = function_lengths()
    assert ("itnet_ts/estimators/forecaster.py", "ITNetForecaster.fit") in lengths
    assert not any(file.startswith("itnet_ts/gpu/") for file, _ in lengths)
