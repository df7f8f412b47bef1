"""Write the bundled Quickstart sample ``samples/irregular_sample.csv``.

The sample is ``make_irregular(**SAMPLE_PARAMS)``: 40 series of the ``mixed`` family
(10 each of multi-rate sines, damped oscillators, bursty sampling and asynchronous
channels), 3 channels ``ch0..ch2``, 72 hours each starting 2024-03-01 00:00, irregular
stamps at whole seconds (about one an hour per channel), in the tidy shape
``unique_id, ds, variable, value`` with ISO ``ds`` and values rounded to 4 decimals.
Deterministic: the same package versions give the same bytes.

Run from the repository root::

    python datasets/make_sample.py            # rewrites datasets/samples/irregular_sample.csv
    python datasets/make_sample.py OUT.csv    # writes elsewhere
"""

from __future__ import annotations

import pathlib
import sys

import polars as pl

from itnet_ts._files import atomic_write

if __package__ in (None, ""):  # run as a script: the installed package (it maps datasets/)
    from itnet_ts.datasets.synthetic import make_irregular  # type: ignore[no-redef]
else:
    from .synthetic import make_irregular

SAMPLE_PARAMS: dict = {
    "n_series": 40,
    "family": "mixed",
    "n_channels": 3,
    "length": 72.0,  # hours
    "seed": 2024,
    "datetime": True,
    "start": "2024-03-01 00:00:00",
    "shape": "tidy",
    "noise": 0.1,
    "obs_rate": 0.6,
}
DECIMALS = 4
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "samples" / "irregular_sample.csv"


def build_sample() -> pl.DataFrame:
    """The sample as a polars frame (values rounded as written)."""
    frame = make_irregular(**SAMPLE_PARAMS, as_="polars")
    return frame.with_columns(pl.col("value").round(DECIMALS))


def write_sample(path: str | pathlib.Path = DEFAULT_OUT) -> pathlib.Path:
    """Write the sample CSV to ``path`` and return the path."""
    path = pathlib.Path(path)
    with atomic_write(path) as tmp:
        build_sample().write_csv(tmp, datetime_format=DATETIME_FORMAT, float_precision=DECIMALS)
    return path


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    path = write_sample(argv[0] if argv else DEFAULT_OUT)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
