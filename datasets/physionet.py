"""PhysioNet / Computing in Cardiology Challenge 2012: the raw ICU files as a tidy frame.

The challenge data are three archives (``set-a.tar.gz``, ``set-b.tar.gz``, ``set-c.tar.gz``),
4,000 ICU stays each, one ``<RecordID>.txt`` file per stay::

    Time,Parameter,Value
    00:00,RecordID,132539
    00:00,Age,54
    00:07,HR,73

:func:`load_physionet2012` reads the archives directly (or the extracted ``set-*`` folders) and
returns one long frame ``unique_id, ds, variable, value``:

- ``unique_id`` -- the RecordID, as a string (the file name without ``.txt``);
- ``ds`` -- hours since ICU admission, ``hh + mm / 60`` as Float64, no quantisation;
- ``variable`` -- one of the 41 names in :data:`VARIABLES` (5 general descriptors recorded at
  00:00 and 36 time series; ``Weight`` is both a descriptor and a time series and is one
  variable);
- ``value`` -- Float64. A variable recorded more than once at the same time is averaged.

``RecordID`` rows are skipped, and so are the few rows whose parameter name is empty (set-c has
2,403 of them; the benchmark code ignores them as well). ``-1`` is PhysioNet's "unknown" for the
descriptors: by default (``descriptor_missing="missing"``) a ``-1`` descriptor at 00:00 is dropped;
``descriptor_missing="protocol"`` keeps it as an observed value, as the published t-PatchGNN
benchmark protocol does (6,739 such values in the 12,000 records).

The data are Open Access on PhysioNet ("challenge-2012" 1.0.0, Silva, Moody, Mark, Celi; cite
Goldberger et al., 2000).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from itnet_ts._files import atomic_write
from itnet_ts.errors import ITNetInputError

__all__ = [
    "DATA_URL",
    "DESCRIPTORS",
    "ENV_VAR",
    "SETS",
    "TIME_SERIES",
    "VARIABLES",
    "load_physionet2012",
    "parse_physionet_records",
]

ENV_VAR = "ITNET_PHYSIONET_DIR"
CACHE_ENV_VAR = "ITNET_CACHE_DIR"
DATA_URL = "https://physionet.org/content/challenge-2012/1.0.0/"
SETS: tuple[str, ...] = ("set-a", "set-b", "set-c")

DESCRIPTORS: tuple[str, ...] = ("Age", "Gender", "Height", "ICUType", "Weight")
TIME_SERIES: tuple[str, ...] = (
    "Albumin", "ALP", "ALT", "AST", "Bilirubin", "BUN", "Cholesterol", "Creatinine", "DiasABP",
    "FiO2", "GCS", "Glucose", "HCO3", "HCT", "HR", "K", "Lactate", "Mg", "MAP", "MechVent", "Na",
    "NIDiasABP", "NIMAP", "NISysABP", "PaCO2", "PaO2", "pH", "Platelets", "RespRate", "SaO2",
    "SysABP", "Temp", "TroponinI", "TroponinT", "Urine", "WBC",
)  # fmt: skip
#: The 41 variables, in the order the benchmark code (and ``split_tpatchgnn.json``) uses.
VARIABLES: tuple[str, ...] = DESCRIPTORS + TIME_SERIES

_HEADER = b"Time,Parameter,Value"
_MISSING_MODES = ("missing", "protocol")
_CACHE_FORMAT = "physionet2012-tidy-v1"
_MAX_HOURS = 100_000  # a sanity bound on "hh" (the records span 0-48 h)
_SCHEMA = {"unique_id": pl.Utf8, "ds": pl.Float64, "variable": pl.Utf8, "value": pl.Float64}


def load_physionet2012(
    path: str | os.PathLike[str] | None = None,
    *,
    descriptor_missing: str = "missing",
    sets: Sequence[str] = SETS,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> pl.DataFrame:
    """Load the PhysioNet 2012 challenge records as a tidy ``unique_id, ds, variable, value`` frame.

    Parameters
    ----------
    path:
        A folder holding ``set-a.tar.gz`` ... (or the extracted ``set-a/`` ... folders of
        ``<RecordID>.txt`` files). Default: the environment variable ``ITNET_PHYSIONET_DIR``.
        Where a set is present both ways, the archive is read.
    descriptor_missing:
        ``"missing"`` (default) drops the ``-1`` ("unknown") values of the descriptors Age,
        Gender, Height, ICUType and Weight recorded at 00:00; ``"protocol"`` keeps them as
        observed values, as the published benchmark protocol does.
    sets:
        Which sets to read, in this order (default all three, 12,000 records).
    cache:
        When every set is read from an archive, keep the parsed frame as a parquet file in
        ``cache_dir`` keyed by the archives' SHA-256 and the options, and reuse it.
    cache_dir:
        Default: ``$ITNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/itnet-ts``, else
        ``~/.cache/itnet-ts``.

    Returns
    -------
    polars.DataFrame
        Columns ``unique_id`` (Utf8), ``ds`` (Float64 hours), ``variable`` (Utf8),
        ``value`` (Float64); one row per record, time and variable (duplicates averaged),
        records in the order read (sets in the order given, files in archive order, or sorted
        by name for a folder), then sorted by ``ds`` and by the order of :data:`VARIABLES`.
    """
    if descriptor_missing not in _MISSING_MODES:
        raise ITNetInputError(
            f"descriptor_missing must be one of {_MISSING_MODES}, got {descriptor_missing!r}"
        )
    set_names = _check_sets(sets)
    root = _resolve_root(path)
    sources = [_find_set(root, name) for name in set_names]

    cache_file: Path | None = None
    if cache and all(src.is_file() for src in sources):
        cache_file = _cache_path(sources, descriptor_missing, cache_dir)
        cached = _read_cache(cache_file)
        if cached is not None:
            return cached

    records: list[tuple[str, bytes]] = []
    for src in sources:
        records.extend(_iter_tar(src) if src.is_file() else _iter_folder(src))
    frame = parse_physionet_records(records, descriptor_missing=descriptor_missing)

    if cache_file is not None:
        _write_cache(frame, cache_file)
    return frame


def parse_physionet_records(
    records: Iterable[tuple[str, bytes]], *, descriptor_missing: str = "missing"
) -> pl.DataFrame:
    """Parse ``(record_id, file_bytes)`` pairs in the PhysioNet 2012 text format (see module doc)."""
    if descriptor_missing not in _MISSING_MODES:
        raise ITNetInputError(
            f"descriptor_missing must be one of {_MISSING_MODES}, got {descriptor_missing!r}"
        )
    chunks, ids = _numbered_rows(records)
    if not ids:
        raise ITNetInputError("no PhysioNet records found (no <RecordID>.txt files)")
    if not chunks:
        return pl.DataFrame(schema=_SCHEMA)
    try:
        raw = pl.read_csv(
            io.BytesIO(b"".join(chunks)),
            has_header=False,
            schema={"rec": pl.UInt32, "time": pl.Utf8, "variable": pl.Utf8, "raw": pl.Utf8},
            quote_char=None,
        )
    except pl.exceptions.PolarsError as err:  # e.g. a row with more than 3 fields
        raise ITNetInputError(
            f"malformed PhysioNet record file (expected 'Time,Parameter,Value' rows): {err}"
        ) from err
    parsed = _parsed_rows(raw, ids)
    if descriptor_missing == "missing":
        parsed = parsed.filter(
            ~(
                pl.col("variable").is_in(DESCRIPTORS)
                & (pl.col("hours") == 0)
                & (pl.col("minutes") == 0)
                & (pl.col("value") == -1.0)
            )
        )
    return _averaged_frame(parsed, pl.Series("unique_id", ids, dtype=pl.Utf8))


def _numbered_rows(records: Iterable[tuple[str, bytes]]) -> tuple[list[bytes], list[str]]:
    """Every record's rows, each prefixed with the record's position (``"17,00:07,HR,73"``),
    and the record ids in order; ids checked (unique, a plain file name)."""
    chunks: list[bytes] = []
    ids: list[str] = []
    seen: set[str] = set()
    for record_id, content in records:
        if record_id in seen:
            raise ITNetInputError(
                f"PhysioNet record {record_id!r} appears twice; each RecordID must be unique "
                "across the sets read"
            )
        if not record_id or any(c in record_id for c in ",\r\n"):
            raise ITNetInputError(f"invalid PhysioNet record file name {record_id!r}")
        seen.add(record_id)
        body = _record_body(record_id, content)
        if body:
            # every row gets the record's position as a first field: "17,00:07,HR,73"
            prefix = str(len(ids)).encode() + b","
            chunks.append(prefix + body.replace(b"\n", b"\n" + prefix) + b"\n")
        ids.append(record_id)
    return chunks, ids


def _parsed_rows(raw: pl.DataFrame, ids: list[str]) -> pl.DataFrame:
    """The rows of known parameters with ``hours, minutes, value`` and the variable's index
    ``var``; an unknown parameter, a time that is not ``hh:mm`` or a value that is not a
    finite number is an error naming its record."""
    # rows without a parameter name are ignored (as the benchmark code does), as is RecordID
    raw = raw.filter(pl.col("variable").is_not_null() & (pl.col("variable") != "RecordID"))
    unknown = raw.filter(~pl.col("variable").is_in(VARIABLES))
    if unknown.height:
        names = sorted(set(unknown["variable"].to_list()))[:10]
        first = ids[unknown["rec"][0]]
        raise ITNetInputError(
            f"unknown PhysioNet parameter(s) {names} (first in record {first!r}); "
            f"expected one of the 41 variables {list(VARIABLES)} or RecordID"
        )
    hm = pl.col("time").str.strip_chars().str.split_exact(":", 1)
    parsed = raw.with_columns(
        hours=hm.struct.field("field_0").cast(pl.Int64, strict=False),
        minutes=hm.struct.field("field_1").cast(pl.Int64, strict=False),
        value=pl.col("raw").str.strip_chars().cast(pl.Float64, strict=False),
        var=pl.col("variable").cast(pl.Enum(VARIABLES)).to_physical(),
    )
    bad_time = parsed.filter(
        pl.col("hours").is_null()
        | pl.col("minutes").is_null()
        | (pl.col("hours") < 0)
        | (pl.col("hours") > _MAX_HOURS)
        | (pl.col("minutes") < 0)
        | (pl.col("minutes") >= 60)
    )
    if bad_time.height:
        row = bad_time.row(0, named=True)
        raise ITNetInputError(
            f"PhysioNet record {ids[row['rec']]!r}: time {row['time']!r} is not 'hh:mm' "
            f"(row '{row['time']},{row['variable']},{row['raw']}')"
        )
    bad_value = parsed.filter(pl.col("value").is_null() | ~pl.col("value").is_finite())
    if bad_value.height:
        row = bad_value.row(0, named=True)
        raise ITNetInputError(
            f"PhysioNet record {ids[row['rec']]!r}: value {row['raw']!r} of {row['variable']} "
            f"at {row['time']} is not a finite number"
        )
    return parsed


def _averaged_frame(parsed: pl.DataFrame, id_series: pl.Series) -> pl.DataFrame:
    """The tidy frame: sorted by (record, time, variable), duplicates averaged (on integer
    keys, fast)."""
    rec = parsed["rec"].to_numpy().astype(np.int64)
    hours = parsed["hours"].to_numpy()
    minutes = parsed["minutes"].to_numpy()
    var = parsed["var"].to_numpy().astype(np.int64)
    value = parsed["value"].to_numpy()
    key = (rec * ((_MAX_HOURS + 1) * 60) + hours * 60 + minutes) * len(VARIABLES) + var
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, key.size])
    sums = np.add.reduceat(value[order], starts) if key.size else value[:0]
    first = order[starts]
    return pl.DataFrame(
        {
            "unique_id": id_series.gather(rec[first]),
            # hh + mm / 60 exactly as the benchmark code computes it (no rounding to minutes)
            "ds": hours[first].astype(np.float64) + minutes[first].astype(np.float64) / 60.0,
            "variable": pl.Series(VARIABLES, dtype=pl.Utf8).gather(var[first]),
            "value": sums / counts,
        },
        schema=_SCHEMA,
    )


# --------------------------------------------------------------------------------------------
# sources


def _check_sets(sets: Sequence[str]) -> list[str]:
    names = [sets] if isinstance(sets, str) else list(sets)
    if not names:
        raise ITNetInputError("sets must name at least one set, e.g. ('set-a', 'set-b', 'set-c')")
    for name in names:
        if not isinstance(name, str) or not name or "/" in name or "\\" in name:
            raise ITNetInputError(f"invalid set name {name!r}; expected e.g. 'set-a'")
    if len(set(names)) != len(names):
        raise ITNetInputError(f"sets lists a set twice: {names}")
    return names


def _resolve_root(path: str | os.PathLike[str] | None) -> Path:
    how = "the path given"
    if path is None:
        env = os.environ.get(ENV_VAR)
        if not env:
            raise ITNetInputError(
                "PhysioNet 2012 data location not given. Download set-a.tar.gz, set-b.tar.gz "
                f"and set-c.tar.gz (Open Access) from {DATA_URL} into one folder, then pass "
                f"load_physionet2012(path='that/folder') or set the environment variable "
                f"{ENV_VAR}=that/folder."
            )
        path, how = env, f"${ENV_VAR}"
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ITNetInputError(
            f"PhysioNet 2012 folder {str(root)!r} ({how}) does not exist or is not a folder; "
            f"it should hold set-a.tar.gz, set-b.tar.gz, set-c.tar.gz (from {DATA_URL}) or the "
            "extracted set-a/, set-b/, set-c/ folders."
        )
    return root


def _find_set(root: Path, name: str) -> Path:
    archive = root / f"{name}.tar.gz"
    if archive.is_file():
        return archive
    folder = root / name
    if folder.is_dir():
        return folder
    raise ITNetInputError(
        f"PhysioNet 2012 {name} not found in {str(root)!r}: expected {archive.name} or an "
        f"extracted {name}/ folder of <RecordID>.txt files (download from {DATA_URL})."
    )


def _iter_tar(archive: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if not member.isfile() or not member.name.endswith(".txt"):
                    continue
                stem = member.name.rsplit("/", 1)[-1][: -len(".txt")]
                handle = tar.extractfile(member)
                if handle is None:  # pragma: no cover - isfile() members always extract
                    continue
                yield stem, handle.read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ITNetInputError(
            f"cannot read PhysioNet archive {str(archive)!r}: {err}; re-download it from {DATA_URL}"
        ) from err


def _iter_folder(folder: Path) -> Iterator[tuple[str, bytes]]:
    for file in sorted(folder.glob("*.txt")):
        yield file.stem, file.read_bytes()


def _record_body(record_id: str, content: bytes) -> bytes:
    """The rows after the header, with ``\\n`` line ends and no trailing newline."""
    text = content.replace(b"\r\n", b"\n")
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    header, _, body = text.partition(b"\n")
    if header.strip() != _HEADER:
        raise ITNetInputError(
            f"PhysioNet record {record_id!r}: first line must be 'Time,Parameter,Value', "
            f"got {header[:60].decode(errors='replace')!r}"
        )
    return body.strip(b"\n")


# --------------------------------------------------------------------------------------------
# cache


def _default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "itnet-ts"


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_path(
    archives: list[Path], descriptor_missing: str, cache_dir: str | os.PathLike[str] | None
) -> Path:
    key = hashlib.sha256()
    key.update(_CACHE_FORMAT.encode())
    key.update(descriptor_missing.encode())
    for archive in archives:
        key.update(archive.name.encode() + b"\0" + _sha256(archive).encode() + b"\0")
    folder = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    return folder / f"physionet2012-{key.hexdigest()[:24]}.parquet"


def _read_cache(file: Path) -> pl.DataFrame | None:
    if not file.is_file():
        return None
    try:
        frame = pl.read_parquet(file)
    except Exception:  # a corrupt cache file is simply rebuilt
        return None
    if dict(frame.schema) != _SCHEMA:
        return None
    return frame


def _write_cache(frame: pl.DataFrame, file: Path) -> None:
    """Best effort, atomic: a cache that cannot be written is simply not kept."""
    try:
        with atomic_write(file) as tmp:
            frame.write_parquet(tmp)
    except OSError:
        pass
