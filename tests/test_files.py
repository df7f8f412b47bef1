"""Atomic writes (``itnet_ts._files``): a target is either the old file or the whole new one,
and a failed write leaves an existing file as it was, with no temporary file behind."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import polars as pl
import pytest

from itnet_ts._files import atomic_write, write_bytes_atomic, write_text_atomic
from itnet_ts.errors import ITNetInputError

ROOT = Path(__file__).resolve().parents[1]


class Boom(Exception):
    pass


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_the_content_with_ordinary_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    target = tmp_path / "sub" / "a.bin"  # missing folders are made
    assert write_bytes_atomic(target, b"\x00data") == target
    assert target.read_bytes() == b"\x00data"
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert _names(target.parent) == ["a.bin"]
    write_text_atomic(target, "± again")
    assert target.read_text(encoding="utf-8") == "± again"


def test_concurrent_writes_leave_the_umask_alone(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    before = os.umask(0o027)
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: write_bytes_atomic(tmp_path / f"{i}.bin", b"x"), range(64)))
        assert os.umask(0o027) == 0o027
        modes = {(tmp_path / f"{i}.bin").stat().st_mode & 0o777 for i in range(64)}
        assert modes == {0o640}
    finally:
        os.umask(before)


def test_the_target_is_never_half_written(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("new, first half")
        assert target.read_text() == "old"  # readers still see the whole old file
        with open(tmp, "a") as f:
            f.write(" and second half")
        assert target.read_text() == "old"
    assert target.read_text() == "new, first half and second half"
    assert _names(tmp_path) == ["t.txt"]


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt, OSError])
def test_an_existing_file_survives_a_failed_write(tmp_path, error):
    target = tmp_path / "t.parquet"
    pl.DataFrame({"a": [1, 2]}).write_parquet(target)
    before = target.read_bytes()
    with pytest.raises(error), atomic_write(target) as tmp:
        tmp.write_bytes(b"PAR1 half a file")
        raise error("disk full")
    assert target.read_bytes() == before
    assert _names(tmp_path) == ["t.parquet"]


def test_a_failed_first_write_leaves_nothing(tmp_path):
    with pytest.raises(Boom), atomic_write(tmp_path / "new.csv") as tmp:
        tmp.write_text("a,b\n1,")
        raise Boom
    assert _names(tmp_path) == []


def test_no_overwrite_refuses_a_file_that_appeared_meanwhile(tmp_path):
    target = tmp_path / "t.txt"
    with pytest.raises(ITNetInputError, match="already exists"):
        with atomic_write(target, overwrite=False) as tmp:
            tmp.write_text("mine")
            target.write_text("someone else's")
    assert target.read_text() == "someone else's"
    assert _names(tmp_path) == ["t.txt"]


# ---- the project's writers go through the helper --------------------------------------------


class HalfFrame:
    """A frame whose writes fail half way, as a full disk would."""

    def _fail(self, path, *args, **kwargs):
        Path(path).write_text("half")
        raise Boom

    write_csv = write_parquet = _fail


def test_cli_table_writer_keeps_the_old_file(tmp_path):
    from itnet_ts.cli._io import write_table_atomic

    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(Boom):
        write_table_atomic(HalfFrame(), target, overwrite=True)
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["out.csv"]


def test_bench_json_writer_keeps_the_old_file(tmp_path, monkeypatch):
    from itnet_ts.bench.runner import write_json

    target = tmp_path / "seed0.json"
    write_json(target, {"ok": 1})

    def no_rename(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError, match="rename failed"):
        write_json(target, {"ok": 2})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert _names(tmp_path) == ["seed0.json"]


def test_physionet_cache_write_is_best_effort(tmp_path):
    from itnet_ts.datasets.physionet import _write_cache

    target = tmp_path / "cache.parquet"
    target.write_bytes(b"old")
    _write_cache(HalfFrameOSError(), target)  # swallowed: a cache is optional
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["cache.parquet"]


class HalfFrameOSError:
    def write_parquet(self, path):
        Path(path).write_text("half")
        raise OSError("disk full")


# ---- no hand-rolled atomic writes left --------------------------------------------------------

# The calls that mark a hand-rolled "temporary file + rename"; only the helper may make them.
_RENAMES = {("os", "replace"), ("os", "rename"), ("tempfile", "mkstemp"), ("os", "fdopen")}
# benchmarks/ scripts: NOT YET MOVED to the helper (their files were out of scope of the
# change that added it); each entry names the file, remove it once the file is moved.
_ALLOWED = {
    "itnet_ts/_files.py": "the helper itself",
    "benchmarks/physionet_itnet.py": "not yet moved (issue 11)",
    "benchmarks/physionet_grud.py": "not yet moved (issue 11)",
    "benchmarks/physionet_baselines.py": "not yet moved (issue 11)",
}


def _sources():
    for folder in ("itnet_ts", "cli", "datasets", "benchmarks"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_every_atomic_write_goes_through_the_helper():
    offenders = []
    for file in _sources():
        rel = file.relative_to(ROOT).as_posix()
        if rel in _ALLOWED:
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in _RENAMES
            ):
                offenders.append(f"{rel}:{node.lineno} {node.value.id}.{node.attr}")
    assert not offenders, "write through itnet_ts._files.atomic_write instead:\n" + "\n".join(
        offenders
    )
