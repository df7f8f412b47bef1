"""The shape of the house, read from the code's own imports (every import, the lazy ones
inside functions too):

- no module imports a private name (one leading underscore) from a module of another
  package: what another package needs is public there;
- dependencies run one way (``../shared/DESIGN.md``): ``cli -> estimators -> model -> ops ->
  gpu``; ``data`` below ``estimators`` (and ``model``, for its tensor types); ``datasets``
  uses only ``data``; ``bench`` and ``distributed`` beside the estimators, used by ``cli``.

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
        "protocol_metrics scores with itnet_ts.metrics.per_variable_mse_mae; the protocol's "
        "scoring is to move to itnet_ts/bench with bench/runs.py, its user (issue 11)"
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
