"""UCI "Localization Data for Person Activity" (``ConfLongDemo_JSI.txt``) as a tidy frame.

Each line of the file (archive.ics.uci.edu, dataset 196) is one reading of one of four tags::

    A01,010-000-024-033,633790226051280329,27.05.2009 14:03:25:127,4.062931060791016,1.8924342393875122,0.5074254274368286,walking

(sequence name, tag id, timestamp in 100-ns ticks, date, x, y, z, activity label). As in the
t-PatchGNN benchmark code:

- each sequence (``A01`` .. ``E05``) is one series; ``ds`` is milliseconds since the sequence's
  first line, ``round((float(ticks) - float(first_ticks)) / 10**4)`` (round half to even);
- the 12 variables are the x, y, z of the four tags, tag-major: ``ANKLE_LEFT_x``,
  ``ANKLE_LEFT_y``, ..., ``BELT_z``; readings of one tag at the same millisecond are averaged;
- the activity label is not used (forecasting only).

The benchmark then cuts each sequence into 4,000 ms windows (3,000 ms in, 1,000 ms out).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from itnet_ts.errors import ITNetInputError

__all__ = ["TAGS", "VARIABLES", "load_activity"]

FILE_NAME = "ConfLongDemo_JSI.txt"
#: tag id -> body position, in the benchmark's order
TAGS: dict[str, str] = {
    "010-000-024-033": "ANKLE_LEFT",
    "010-000-030-096": "ANKLE_RIGHT",
    "020-000-033-111": "CHEST",
    "020-000-032-221": "BELT",
}
VARIABLES: tuple[str, ...] = tuple(f"{tag}_{axis}" for tag in TAGS.values() for axis in "xyz")
_TICKS_PER_MS = 10**4


def load_activity(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Load ``ConfLongDemo_JSI.txt`` (or a folder holding it) as ``unique_id, ds, variable, value``.

    ``ds`` in milliseconds since each sequence's first line (see the module doc); rows sorted by
    sequence (in file order), time and variable (in :data:`VARIABLES` order).
    """
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / FILE_NAME
    if not file.is_file():
        raise ITNetInputError(
            f"Activity file {str(file)!r} not found; get {FILE_NAME} from the UCI repository "
            "(Localization Data for Person Activity)"
        )
    raw = _read_readings(file)
    long = _readings_by_variable(raw)
    names = pl.DataFrame(
        {"_var": pl.Series(range(len(VARIABLES)), dtype=pl.Int64), "variable": VARIABLES}
    )
    return (
        long.group_by("seq", "_seq", "ds", "_var")
        .agg(pl.col("value").mean())
        .join(names, on="_var", how="left")
        .sort("_seq", "ds", "_var")
        .select(unique_id="seq", ds="ds", variable="variable", value="value")
    )


def _read_readings(file: Path) -> pl.DataFrame:
    """The file's lines, checked: no empty fields, known tags, finite coordinates."""
    schema = {
        "seq": pl.Utf8,
        "tag": pl.Utf8,
        "ticks": pl.Int64,
        "date": pl.Utf8,
        "x": pl.Float64,
        "y": pl.Float64,
        "z": pl.Float64,
        "label": pl.Utf8,
    }
    try:
        raw = pl.read_csv(file, has_header=False, schema=schema, quote_char=None)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise ITNetInputError(
            f"cannot read Activity file {str(file)!r} (expected 8 comma-separated fields: "
            f"sequence, tag, ticks, date, x, y, z, label): {err}"
        ) from err
    raw = raw.with_columns(pl.col("seq").str.strip_chars(), pl.col("tag").str.strip_chars())
    if (
        raw.select(pl.col("seq", "tag", "ticks", "x", "y", "z").null_count())
        .sum_horizontal()
        .item()
    ):
        raise ITNetInputError(f"Activity file {str(file)!r} has empty fields")
    unknown = raw.filter(~pl.col("tag").is_in(list(TAGS)))
    if unknown.height:
        raise ITNetInputError(
            f"Activity file {str(file)!r}: unknown tag id(s) "
            f"{sorted(set(unknown['tag'].to_list()))[:5]}; expected {list(TAGS)}"
        )
    if not raw.select(pl.all_horizontal(pl.col("x", "y", "z").is_finite().all())).item():
        raise ITNetInputError(f"Activity file {str(file)!r} has non-finite coordinates")
    return raw


def _readings_by_variable(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per (reading, axis): the sequence (and its rank in file order), ``ds`` in ms
    since the sequence's first line, the variable's index (tag-major) and the value."""
    seq_order = raw["seq"].unique(maintain_order=True)
    ticks = raw["ticks"].to_numpy().astype(np.float64)  # the benchmark converts with float()
    first = raw.select(pl.col("ticks").first().over("seq"))["ticks"].to_numpy()
    ms = np.rint((ticks - first.astype(np.float64)) / _TICKS_PER_MS)
    tag_index = {tag: i for i, tag in enumerate(TAGS)}
    long = (
        raw.with_columns(
            _seq=pl.col("seq").replace_strict(
                seq_order, pl.Series(range(seq_order.len()), dtype=pl.Int64)
            ),
            ds=pl.Series(ms),
            _tag=pl.col("tag").replace_strict(tag_index, return_dtype=pl.Int64),
        )
        .unpivot(index=["seq", "_seq", "ds", "_tag"], on=["x", "y", "z"], variable_name="axis")
        .with_columns(
            _var=pl.col("_tag") * 3 + pl.col("axis").replace_strict({"x": 0, "y": 1, "z": 2})
        )
    )
    return long
