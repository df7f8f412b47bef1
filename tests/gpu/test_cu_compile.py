"""Compile every CUDA source in ``itnet_ts/gpu`` for sm_90 with nvcc (CPU-only, no GPU needed).

Every kernel variant of ``scan.cu`` (2 dtypes x 8 configurations x forward/backward) is
instantiated explicitly; the build must produce no error, no warning (``-Werror all-warnings``)
and no register spill in ptxas' ``--resource-usage`` report.  Skipped when ``nvcc`` is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from itnet_ts.gpu import scan_cuda as sc

NVCC = shutil.which("nvcc")
GPU_DIR = Path(sc.__file__).parent
FLAGS = ["-arch=sm_90", "-cubin", "--resource-usage", "-Werror", "all-warnings", "-std=c++17"]

pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")


def _units(tmp_path: Path) -> list[tuple[Path, int]]:
    """(.cu file to compile, number of kernels it must contain); scan.cu split in chunks."""
    units = []
    for cu in sorted(GPU_DIR.glob("*.cu")):
        if cu.name != "scan.cu":
            units.append((cu, -1))
            continue
        names = sc.all_kernel_names()
        jobs = max(1, min(8, os.cpu_count() or 1))
        for i in range(jobs):
            part = names[i::jobs]
            src = f'#include "{cu}"\n// explicit instantiation of every variant\n'
            src += "void* itnet_scan_kernels[] = {\n"
            src += ",\n".join(f"    (void*)&{n}" for n in part) + "\n};\n"
            path = tmp_path / f"scan_variants_{i}.cu"
            path.write_text(src)
            units.append((path, len(part)))
    return units


def _compile(unit: tuple[Path, int], tmp_path: Path) -> tuple[Path, int, int, str]:
    path, _ = unit
    cubin = tmp_path / (path.stem + ".cubin")
    proc = subprocess.run(
        [NVCC, *FLAGS, f"-I{GPU_DIR}", "-o", str(cubin), str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return path, unit[1], proc.returncode, proc.stdout + proc.stderr


def _report(log: str) -> dict[str, dict[str, int]]:
    """ptxas --resource-usage per function: registers, stack frame, spill stores / loads."""
    out: dict[str, dict[str, int]] = {}
    for name, stack, st, ld in re.findall(
        r"Function properties for (\w+)\n\s+(\d+) bytes stack frame, (\d+) bytes spill stores, "
        r"(\d+) bytes spill loads",
        log,
    ):
        out.setdefault(name, {}).update(stack=int(stack), spill_stores=int(st), spill_loads=int(ld))
    for name, regs in re.findall(
        r"Compiling entry function '(\w+)'[^\n]*\n(?:[^\n]*\n)*?[^\n]*Used (\d+) registers", log
    ):
        out.setdefault(name, {})["registers"] = int(regs)
    return out


def test_every_kernel_compiles_for_sm90_without_warnings_or_spills(tmp_path):
    units = _units(tmp_path)
    with ThreadPoolExecutor(max_workers=len(units)) as pool:
        results = list(pool.map(lambda u: _compile(u, tmp_path), units))
    lines = []
    for path, expected, rc, log in results:
        assert rc == 0, f"nvcc failed on {path.name}:\n{log}"
        assert "warning" not in log.lower(), f"warnings compiling {path.name}:\n{log}"
        entries = re.findall(r"Compiling entry function '(\w+)'", log)
        if expected >= 0:
            assert len(entries) == expected, f"{path.name}: {len(entries)} of {expected} kernels"
        report = _report(log)
        spilled = {k: v for k, v in report.items() if v.get("spill_stores") or v.get("spill_loads")}
        assert not spilled, f"register spills in {path.name}: {spilled}\n{log}"
        assert all("registers" in report.get(e, {}) for e in entries), log
        lines += [f"{e}: {report[e]}" for e in entries]
    print("\n".join(sorted(lines)))
