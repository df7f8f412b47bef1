"""The published irregular-forecasting benchmark protocol on PhysioNet 2012 (t-PatchGNN, ICML 2024).

Read from the benchmark's code (``lib/physionet.py``, ``lib/parse_datasets.py``,
``lib/evaluation.py``, ``lib/utils.py`` of usail-hkust/t-PatchGNN) and reproduced on the tidy frame
of :func:`itnet_ts.datasets.physionet.load_physionet2012` (loaded with
``descriptor_missing="protocol"``):

- **Records and split**: 12,000 records (set-a + set-b + set-c); train / val / test =
  7,200 / 2,400 / 2,400 records, given exactly by ``split_tpatchgnn.json`` (the split depends on
  a directory-listing order, so the file fixes it).
- **Time points**: every distinct time of a record is one time point; all its variables share
  it. Times are hours (``hh + mm/60``); the 00:00 descriptors (Age, Gender, Height, ICUType,
  Weight, ``-1`` included) are observations at time point 0.
- **Windows**: history = observations with ``t < 24`` h (descriptors included);
  targets = every observed entry with ``t >= 24`` h (a record at exactly 24:00 is a target).
  The model is asked for all 41 variables at each target time point; only observed entries
  are scored.
- **Scaling**: ``(x - min) / (max - min)`` per variable, with min and max over the observed
  values of train + val (all times), a zero range replaced by ``1e-8``; times divided by the
  largest time in train + val (48 h). Unobserved entries are 0 in the peer's dense tensors
  (and carry mask 0); they never enter the metric.
- **Metric**: :func:`protocol_metrics` -- squared / absolute error summed per variable over the
  whole split, divided by that variable's count, averaged over the variables with targets.

:func:`physionet_protocol` returns a :class:`PhysioNetProtocol`; each split
(:class:`ProtocolSplit`) holds two tidy frames with columns ``unique_id, ds, variable, value``
(``ds`` scaled time in [0, 1], ``value`` scaled): ``history`` and ``targets``, plus
:meth:`ProtocolSplit.to_dense` for padded ``(records, time points, variables)`` arrays.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from itnet_ts.errors import ITNetInputError
from itnet_ts.metrics import per_variable_mse_mae

from ._protocol_arrays import _dense, _sort_order

__all__ = [
    "BASELINES",
    "EXPECTED_SPLIT_SIZES",
    "HISTORY_HOURS",
    "PhysioNetProtocol",
    "ProtocolSplit",
    "baseline_forecast",
    "physionet_protocol",
    "protocol_metrics",
]

HISTORY_HOURS = 24.0
SPLITS: tuple[str, ...] = ("train", "val", "test")
EXPECTED_SPLIT_SIZES: dict[str, int] = {"train": 7200, "val": 2400, "test": 2400}
SPLIT_FILE = "split_tpatchgnn.json"
BASELINES: tuple[str, ...] = ("persistence", "history_mean", "global_mean")
_KEYS = ["unique_id", "ds", "variable"]
_SCHEMA = {"unique_id": pl.Utf8, "ds": pl.Float64, "variable": pl.Utf8, "value": pl.Float64}
_ZERO_RANGE = 1e-8
_MINMAX_RTOL = 1e-6  # the JSON holds the peer's float32 values


@dataclass(frozen=True)
class ProtocolSplit:
    """One split of the protocol: scaled history and targets of its records, in the JSON order.

    ``history`` and ``targets`` are tidy frames ``unique_id, ds, variable, value`` (``ds`` =
    hours / ``time_max``, ``value`` min-max scaled), sorted by record (in ``ids`` order), time and
    variable (in ``variables`` order). ``history`` holds the observations with ``t < 24`` h,
    ``targets`` the observed entries with ``t >= 24`` h -- the rows to predict and score.
    """

    name: str
    ids: tuple[str, ...]
    variables: tuple[str, ...]
    history: pl.DataFrame = field(repr=False)
    targets: pl.DataFrame = field(repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def target_times(self) -> pl.DataFrame:
        """The query time points: one row ``unique_id, ds`` per record and target time."""
        return self.targets.select("unique_id", "ds").unique(maintain_order=True)

    def to_dense(self, dtype: Any = np.float32) -> dict[str, np.ndarray]:
        """Padded arrays, one row per record in ``ids`` order, variables in ``variables`` order.

        Returns ``history_times`` ``(R, Lh)``, ``history_values`` / ``history_mask``
        ``(R, Lh, D)``, ``history_lengths`` ``(R,)`` and the same four for ``target_*``.
        Each record's time points are its own distinct times in the window, ascending, padded
        at the end with time 0, value 0, mask 0; unobserved entries are 0 with mask 0.
        """
        out: dict[str, np.ndarray] = {}
        for prefix, frame in (("history", self.history), ("target", self.targets)):
            out.update(_dense(frame, self.ids, self.variables, prefix, dtype))
        return out


@dataclass(frozen=True)
class PhysioNetProtocol:
    """The three splits plus the scaling: ``scaled = (x - data_min) / data_range``."""

    train: ProtocolSplit
    val: ProtocolSplit
    test: ProtocolSplit
    variables: tuple[str, ...]
    data_min: np.ndarray = field(repr=False)
    data_max: np.ndarray = field(repr=False)
    time_max: float
    history_hours: float = HISTORY_HOURS

    @property
    def data_range(self) -> np.ndarray:
        """``data_max - data_min`` with a zero range replaced by ``1e-8`` (the divisor used)."""
        return _safe_range(self.data_min, self.data_max)

    @property
    def history_cutoff(self) -> float:
        """The history / target boundary on the scaled time axis (24 / 48 = 0.5)."""
        return self.history_hours / self.time_max

    def split(self, name: str) -> ProtocolSplit:
        if name not in SPLITS:
            raise ITNetInputError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def unscale(self, frame: pl.DataFrame, column: str = "value") -> pl.DataFrame:
        """Back to hours and original units: ``ds * time_max``, ``column * range + min``."""
        _require_columns(frame, ["ds", "variable", column], "frame")
        scale = pl.DataFrame(
            {"variable": list(self.variables), "_min": self.data_min, "_rng": self.data_range}
        )
        return (
            _left_join(frame, scale, ["variable"])
            .with_columns(
                pl.col("ds") * self.time_max,
                pl.col(column) * pl.col("_rng") + pl.col("_min"),
            )
            .drop("_min", "_rng")
        )


def physionet_protocol(
    frame: pl.DataFrame,
    split_json_path: str | os.PathLike[str] | None = None,
    *,
    check_published: bool = True,
    history_hours: float = HISTORY_HOURS,
) -> PhysioNetProtocol:
    """Apply the published protocol to a tidy PhysioNet frame (see the module doc).

    Parameters
    ----------
    frame:
        ``unique_id, ds, variable, value`` with ``ds`` in hours, as returned by
        ``load_physionet2012(descriptor_missing="protocol")``.
    split_json_path:
        ``split_tpatchgnn.json`` (keys ``train``, ``val``, ``test``, ``variables`` and, for the
        checks, ``minmax_over_train_and_val`` and ``time_max_hours``). Default:
        ``$ITNET_PHYSIONET_DIR/split_tpatchgnn.json``.
    check_published:
        Verify that the split sizes are 7,200 / 2,400 / 2,400 and that the min / max and
        ``time_max`` computed from ``frame`` match the JSON; raise ``ITNetInputError`` if not.
        Turn off only for other data (e.g. a small synthetic set in tests).
    history_hours:
        The history / target boundary in hours (24 in the benchmark).
    """
    data = _check_frame(frame)
    spec = _read_split_json(split_json_path)
    variables, ids, all_ids = _split_ids(spec, check_published)
    unknown = set(data["variable"].unique().to_list()) - set(variables)
    if unknown:
        raise ITNetInputError(
            f"frame has variables {sorted(unknown)[:10]} that the split file does not list"
        )
    n_split = [len(ids[name]) for name in SPLITS]
    rec, ds, var, value = _coded_rows(data, all_ids, variables)
    _check_every_record_is_there(rec, all_ids, n_split)
    data_min, data_max, time_max = _train_val_scaling(
        rec < n_split[0] + n_split[1], ds, var, value, len(variables)
    )
    if check_published:
        _check_minmax(spec, variables, data_min, data_max, time_max)
    scaled = pl.DataFrame(
        {
            "unique_id": pl.Series(all_ids, dtype=pl.Utf8).gather(rec),
            "ds": ds / time_max,
            "variable": pl.Series(variables, dtype=pl.Utf8).gather(var),
            "value": (value - data_min[var]) / _safe_range(data_min, data_max)[var],
        },
        schema=_SCHEMA,
    )
    is_history = ds < history_hours
    bounds = np.searchsorted(rec, np.cumsum([0, *n_split]))
    splits = {}
    for k, name in enumerate(SPLITS):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        part = scaled.slice(lo, hi - lo)
        hist = pl.Series(is_history[lo:hi])
        splits[name] = ProtocolSplit(
            name=name,
            ids=ids[name],
            variables=variables,
            history=part.filter(hist),
            targets=part.filter(~hist),
        )
    return PhysioNetProtocol(
        **splits,
        variables=variables,
        data_min=data_min,
        data_max=data_max,
        time_max=time_max,
        history_hours=float(history_hours),
    )


def _split_ids(spec: dict[str, Any], check_published: bool):
    """The split file's variables, record ids per split and all ids (train, val, test),
    checked: the published sizes (``check_published``), non-empty, unique."""
    variables = tuple(spec["variables"])
    ids = {name: tuple(str(i) for i in spec[name]) for name in SPLITS}
    if check_published:
        sizes = {name: len(ids[name]) for name in SPLITS}
        if sizes != EXPECTED_SPLIT_SIZES:
            raise ITNetInputError(
                f"split sizes {sizes} differ from the published {EXPECTED_SPLIT_SIZES}"
            )
    if any(not ids[name] for name in SPLITS):
        raise ITNetInputError("every split of the split file must list at least one record")
    if not variables or len(set(variables)) != len(variables):
        raise ITNetInputError("the split file's variables must be a non-empty list of unique names")
    all_ids = [i for name in SPLITS for i in ids[name]]
    if len(set(all_ids)) != len(all_ids):
        raise ITNetInputError("the split file lists a record id twice (or in two splits)")
    return variables, ids, all_ids


def _coded_rows(data: pl.DataFrame, all_ids: list[str], variables: tuple[str, ...]):
    """``rec, ds, var, value`` of the split records' rows as arrays sorted by (record, time,
    variable): integer codes (record position in train + val + test, variable position); the
    string columns are rebuilt from the codes at the end. A repeated row is an error."""
    rows = data.filter(pl.col("unique_id").is_in(all_ids)).select(
        _rec=pl.col("unique_id").cast(pl.Enum(all_ids)).to_physical().cast(pl.Int64),
        ds="ds",
        _var=pl.col("variable").cast(pl.Enum(variables)).to_physical().cast(pl.Int64),
        value="value",
    )
    rec, ds, var = rows["_rec"].to_numpy(), rows["ds"].to_numpy(), rows["_var"].to_numpy()
    order = _sort_order(rec, ds, var)
    rec, ds, var = rec[order], ds[order], var[order]
    value = rows["value"].to_numpy()[order]
    duplicated = (rec[1:] == rec[:-1]) & (ds[1:] == ds[:-1]) & (var[1:] == var[:-1])
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0])
        raise ITNetInputError(
            f"frame has more than one row for ({all_ids[rec[i]]!r}, {ds[i]}, "
            f"{variables[var[i]]!r}); average repeated observations first"
        )
    return rec, ds, var, value


def _check_every_record_is_there(rec: np.ndarray, all_ids: list[str], n_split: list[int]):
    """Every record of every split has at least one row."""
    counts = np.bincount(rec, minlength=len(all_ids))
    for name, lo, hi in zip(SPLITS, np.cumsum([0, *n_split[:-1]]), np.cumsum(n_split), strict=True):
        missing = [all_ids[j] for j in np.flatnonzero(counts[lo:hi] == 0) + lo]
        if missing:
            raise ITNetInputError(
                f"{len(missing)} record(s) of the {name} split are not in the frame "
                f"(first: {missing[:5]}); load all three sets (set-a, set-b, set-c)"
            )


def _train_val_scaling(seen: np.ndarray, ds, var, value, n_vars: int):
    """``data_min, data_max`` per variable over the observed values of train + val (rows
    ``seen``, all times; 0 / 1 for a variable never observed) and ``time_max``."""
    data_min = np.full(n_vars, np.inf)
    data_max = np.full(n_vars, -np.inf)
    np.minimum.at(data_min, var[seen], value[seen])
    np.maximum.at(data_max, var[seen], value[seen])
    unobserved = ~np.isfinite(data_min)
    data_min[unobserved], data_max[unobserved] = 0.0, 1.0
    time_max = float(ds[seen].max()) if seen.any() else 0.0
    if not time_max > 0:
        raise ITNetInputError("the train + val records have no observation after time 0")
    return data_min, data_max, time_max


def protocol_metrics(pred: Any, target: pl.DataFrame) -> dict[str, float]:
    """The benchmark's MSE and MAE of predictions for a split's ``targets`` frame.

    ``pred`` is either a frame with ``unique_id, ds, variable`` (the target rows' own keys) and
    a ``y_pred`` (or ``value``) column, or a 1-D array aligned with the rows of ``target``.
    Every target row must have exactly one prediction. Errors are summed per variable over the
    whole split, divided by that variable's count and averaged over the variables with targets
    (:func:`itnet_ts.metrics.per_variable_mse_mae`).
    """
    _require_columns(target, [*_KEYS, "value"], "target")
    if target.height == 0:
        raise ITNetInputError("target frame is empty; nothing to score")
    if isinstance(pred, pl.DataFrame):
        column = "y_pred" if "y_pred" in pred.columns else "value"
        _require_columns(pred, [*_KEYS, column], "pred")
        preds = pred.select(*_KEYS, pl.col(column).cast(pl.Float64).alias("_pred"))
        if preds.select(pl.struct(_KEYS).is_duplicated().any()).item():
            raise ITNetInputError("pred has more than one row for some (unique_id, ds, variable)")
        joined = _left_join(target.select(*_KEYS, "value"), preds, _KEYS)
        n_missing = joined["_pred"].null_count()
        if n_missing:
            raise ITNetInputError(
                f"{n_missing} of {target.height} target rows have no prediction; predict every "
                "(unique_id, ds, variable) of the target frame, using its ds values as given"
            )
        y_pred = joined["_pred"].to_numpy()
    else:
        y_pred = np.asarray(pred, dtype=np.float64)
        if y_pred.shape != (target.height,):
            raise ITNetInputError(
                f"pred array has shape {y_pred.shape}; expected ({target.height},), one value "
                "per target row in the target frame's order"
            )
    scores = per_variable_mse_mae(target["value"].to_numpy(), y_pred, target["variable"].to_numpy())
    return {"mse": scores["mse"], "mae": scores["mae"]}


def baseline_forecast(
    protocol: PhysioNetProtocol, split: str | ProtocolSplit, method: str = "persistence"
) -> pl.DataFrame:
    """A simple forecast for every target row of a split: ``unique_id, ds, variable, y_pred``.

    ``method``:

    - ``"persistence"`` -- the record's last observed history value of the variable;
    - ``"history_mean"`` -- the mean of the record's history values of the variable;
    - ``"global_mean"`` -- the variable's mean over the training records' histories.

    The first two fall back to the global mean where the record has no history value of the
    variable (and that to 0 where the training histories never observe it). All values on the
    protocol's scaled axis; rows in the order of ``split.targets``.
    """
    if method not in BASELINES:
        raise ITNetInputError(f"unknown baseline {method!r}; expected one of {BASELINES}")
    part = protocol.split(split) if isinstance(split, str) else split
    fallback = protocol.train.history.group_by("variable").agg(_fb=pl.col("value").mean())
    rows = _left_join(part.targets.select(_KEYS), fallback, ["variable"])
    if method == "global_mean":
        pred = pl.col("_fb")
    else:
        # history rows are sorted by time within each record, so last() is the latest value
        agg = pl.col("value").last() if method == "persistence" else pl.col("value").mean()
        per_record = part.history.group_by("unique_id", "variable").agg(_p=agg)
        rows = _left_join(rows, per_record, ["unique_id", "variable"])
        pred = pl.coalesce("_p", "_fb")
    return rows.select(*_KEYS, y_pred=pred.fill_null(0.0))


# --------------------------------------------------------------------------------------------


def _left_join(left: pl.DataFrame, right: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    """A left join that keeps the left frame's row order (whatever the polars version)."""
    return left.with_row_index("_row").join(right, on=on, how="left").sort("_row").drop("_row")


def _safe_range(data_min: np.ndarray, data_max: np.ndarray) -> np.ndarray:
    rng = np.asarray(data_max, dtype=np.float64) - np.asarray(data_min, dtype=np.float64)
    return np.where(rng == 0, _ZERO_RANGE, rng)


def _require_columns(frame: Any, columns: list[str], what: str) -> None:
    if not isinstance(frame, pl.DataFrame):
        raise ITNetInputError(f"{what} must be a polars DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ITNetInputError(f"{what} lacks column(s) {missing}; it has {frame.columns}")


def _check_frame(frame: Any) -> pl.DataFrame:
    _require_columns(frame, list(_SCHEMA), "frame")
    try:
        data = frame.select(list(_SCHEMA)).cast(_SCHEMA)
    except pl.exceptions.PolarsError as err:
        raise ITNetInputError(
            f"frame columns must be unique_id (str), ds (float hours), variable (str), "
            f"value (float): {err}"
        ) from err
    if data.null_count().sum_horizontal().item():
        raise ITNetInputError("frame has null entries; drop unobserved values first")
    if not data.select(pl.col("ds", "value").is_finite().all()).row(0) == (True, True):
        raise ITNetInputError("frame has NaN or infinite ds / value entries")
    return data


def _read_split_json(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    if path is None:
        env = os.environ.get("ITNET_PHYSIONET_DIR")
        if not env:
            raise ITNetInputError(
                f"give split_json_path (the benchmark's {SPLIT_FILE}) or set "
                "ITNET_PHYSIONET_DIR to the folder that holds it"
            )
        path = Path(env) / SPLIT_FILE
    file = Path(path).expanduser()
    try:
        spec = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise ITNetInputError(f"cannot read the split file {str(file)!r}: {err}") from err
    missing = [k for k in (*SPLITS, "variables") if k not in spec]
    if not isinstance(spec, dict) or missing:
        raise ITNetInputError(f"split file {str(file)!r} lacks key(s) {missing}")
    return spec


def _check_minmax(
    spec: dict[str, Any],
    variables: tuple[str, ...],
    data_min: np.ndarray,
    data_max: np.ndarray,
    time_max: float,
) -> None:
    mm = spec.get("minmax_over_train_and_val")
    if mm is None or "min" not in mm or "max" not in mm:
        raise ITNetInputError("split file lacks minmax_over_train_and_val to check against")
    ref_min = np.asarray(mm["min"], dtype=np.float64)
    ref_max = np.asarray(mm["max"], dtype=np.float64)
    if ref_min.shape != (len(variables),) or ref_max.shape != (len(variables),):
        raise ITNetInputError("split file min / max do not have one entry per variable")
    bad = [
        f"{v}: min {lo:g} vs {rlo:g}, max {hi:g} vs {rhi:g}"
        for v, lo, hi, rlo, rhi in zip(variables, data_min, data_max, ref_min, ref_max, strict=True)
        if not (
            np.isclose(lo, rlo, rtol=_MINMAX_RTOL, atol=0)
            and np.isclose(hi, rhi, rtol=_MINMAX_RTOL, atol=0)
        )
    ]
    if bad:
        raise ITNetInputError(
            "min / max over train + val differ from the published ones ("
            + "; ".join(bad[:6])
            + '). Was the frame loaded with descriptor_missing="protocol" from all three sets?'
        )
    ref_time = spec.get("time_max_hours")
    if ref_time is not None and not np.isclose(time_max, float(ref_time), rtol=1e-9, atol=0):
        raise ITNetInputError(f"time_max {time_max} h differs from the published {ref_time} h")
