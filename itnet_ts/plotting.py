"""Plots of irregular histories and their forecasts (matplotlib, imported on first use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from itnet_ts.errors import ITNetInputError

__all__ = ["plot_forecast"]

_HISTORY, _FORECAST, _ACTUAL, _CUTOFF = "#1f77b4", "#d62728", "#222222", "#7f7f7f"


def plot_forecast(
    history: Any = None,
    forecast: Any = None,
    *,
    ids: Sequence[Any] | None = None,
    channels: Sequence[str] | None = None,
    ax: Any = None,
    cutoff: bool = True,
    intervals: bool | Sequence[float] = True,
    max_series: int = 4,
    lookback: str | float | None = None,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
    variable_col: str | None = None,
    value_col: str | None = None,
    title: str | None = None,
):
    """Plot histories and forecasts, one panel per (series, channel).

    History points are drawn at their true times, each channel with only its own
    observations (a faint line joins them for reading, nothing is interpolated). Forecasts
    are a line through the forecast times, with shaded bands for the intervals found in the
    frame (``y_hat-lo-80`` / ``y_hat-hi-80``, or symmetric quantiles ``y_hat_q0.1`` /
    ``y_hat_q0.9``); ``cross_validation`` output gets one line per cutoff and its actuals
    ``y`` as hollow markers.

    Parameters
    ----------
    history
        Observations, in any input shape (long, wide, tidy), pandas or polars.
    forecast
        ``predict`` or ``cross_validation`` output.
    ids
        Series to plot (default: the first ``max_series`` series of ``forecast``, or of
        ``history`` without one).
    channels
        Channels to plot (default: all).
    ax
        A matplotlib ``Axes`` (for one series and one channel) or an array of them, one per
        panel in row-major (series, channel) order. Default: a new figure.
    cutoff
        Mark the cutoff: the ``cutoff`` column of ``cross_validation`` output, else the end
        of each series' history.
    intervals
        ``True`` (every interval in ``forecast``), ``False``, or the levels to draw.
    max_series
        Most series drawn when ``ids`` is not given.
    lookback
        Show only the history within this duration before the first forecast (``"2d"``, or
        a number for numeric time).
    id_col, time_col, target_col, variable_col, value_col
        Column names, as for ``ITNetForecaster.fit``.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot  # noqa: F401  (first: without matplotlib, fail before any work)
    import polars as pl

    from itnet_ts.data._time import parse_duration

    if history is None and forecast is None:
        raise ITNetInputError("plot_forecast needs a history, a forecast, or both")
    cols = dict(id_col=id_col, time_col=time_col, target_col=target_col)
    hist, fc, pcols, kind = _read_frames(history, forecast, variable_col, value_col, cols)
    source = fc if fc is not None else hist
    assert source is not None and kind is not None
    series = _pick_series(
        source["unique_id"].unique(maintain_order=True).to_list(), ids, max_series
    )
    names = set()
    for frame in (hist, fc):
        if frame is not None:
            names |= set(frame.filter(pl.col("unique_id").is_in(series))["variable"].to_list())
    chans = _pick_channels(names, channels)
    levels = _levels(pcols, intervals) if pcols is not None else {}
    span = None if lookback is None else parse_duration(lookback, kind)
    fig, axes = _figure(ax, len(series), len(chans))
    for i, sid in enumerate(series):
        for j, chan in enumerate(chans):
            a = axes[i * len(chans) + j]
            h, f = _panel_rows(hist, fc, sid, chan, span)
            _panel(a, h, f, pcols, levels, kind, cutoff, hist, sid)
            _label_panel(a, f"{sid} · {chan}", kind)
    _shared_legend(axes)
    if title:
        fig.suptitle(title)
    return fig


def _read_frames(history, forecast, variable_col, value_col, cols):
    """The history (canonical: ``unique_id, time, variable, value``) and the forecast
    (``pred_view``) with string ids, the forecast's columns, and the time kind they share."""
    import polars as pl

    from itnet_ts.data._frames import pred_view
    from itnet_ts.data._ingest import ingest

    hist = kind = fc = pcols = None
    if history is not None:
        hist, spec = ingest(
            history, variable_col=variable_col, value_col=value_col, duplicates="mean", **cols
        )
        hist = hist.with_columns(pl.col("unique_id").cast(pl.String))
        kind = spec.time_kind
    if forecast is not None:
        fc, pcols, fkind = pred_view(forecast, variable_col=variable_col, **cols)
        fc = fc.with_columns(pl.col("unique_id").cast(pl.String))
        if kind is not None and fkind != kind:
            raise ITNetInputError(f"the history has {kind} time but the forecast has {fkind} time")
        kind = fkind
    return hist, fc, pcols, kind


def _pick_series(all_ids: list[str], ids, max_series: int) -> list[str]:
    """The series to draw: ``ids`` (checked), else the first ``max_series`` in sorted order."""
    if ids is None:
        return sorted(all_ids)[: max(1, int(max_series))]
    series = [str(i) for i in ([ids] if isinstance(ids, (str, int)) else ids)]
    missing = [i for i in series if i not in set(all_ids)]
    if missing:
        raise ITNetInputError(f"ids {missing[:5]} are not in the data")
    return series


def _pick_channels(names: set[str], channels) -> list[str]:
    """The channels to draw: ``channels`` (checked against ``names``), else all of them."""
    if channels is None:
        chans = sorted(names)
    else:
        chans = [channels] if isinstance(channels, str) else list(channels)
        unknown = [c for c in chans if c not in names]
        if unknown:
            raise ITNetInputError(f"channels {unknown} are not in the data ({sorted(names)})")
    if not chans:
        raise ITNetInputError("nothing to plot: the selected series have no channel")
    return chans


def _figure(ax, n_rows: int, n_cols: int):
    """The figure and its axes, one per panel in row-major order: a new figure, or the
    figure of ``ax`` (which must have one axes per panel)."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, axes = plt.subplots(
            n_rows, n_cols, figsize=(min(5.0 * n_cols, 20), min(2.8 * n_rows, 24) + 0.4),
            squeeze=False, constrained_layout=True,
        )  # fmt: skip
        return fig, axes.reshape(-1)
    axes = np.atleast_1d(np.asarray(ax, dtype=object)).reshape(-1)
    if axes.size != n_rows * n_cols:
        raise ITNetInputError(
            f"ax has {axes.size} axes but there are {n_rows * n_cols} panels "
            f"({n_rows} series x {n_cols} channels); pass ids= / channels= or ax=None"
        )
    return axes[0].figure, axes


def _panel_rows(hist, fc, sid: str, chan: str, span):
    """One panel's history and forecast rows; the history cut to ``span`` before the first
    forecast time when given."""
    import polars as pl

    f = None
    if fc is not None:
        f = fc.filter((pl.col("unique_id") == sid) & (pl.col("variable") == chan))
    h = None
    if hist is not None:
        h = hist.filter((pl.col("unique_id") == sid) & (pl.col("variable") == chan))
        if span is not None and f is not None and f.height:
            h = h.filter(pl.col("time") >= f["time"].min() - span)
    return h, f


def _label_panel(a, title: str, kind: str) -> None:
    """A panel's title and ticks (concise dates for datetime time)."""
    a.set_title(title, fontsize=9)
    a.tick_params(labelsize=8)
    if kind == "datetime":
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(maxticks=6)
        a.xaxis.set_major_locator(locator)
        a.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _shared_legend(axes) -> None:
    """One legend on the first panel with every label drawn on any panel, in first-seen order."""
    handles, labels = {}, []
    for a in axes:
        for hnd, lab in zip(*a.get_legend_handles_labels(), strict=True):
            if lab not in handles:
                handles[lab] = hnd
                labels.append(lab)
    if handles:
        axes[0].legend([handles[k] for k in labels], labels, fontsize=7, loc="best")


def _levels(pcols, intervals) -> dict[float, tuple[str, str]]:
    found = pcols.intervals()
    if intervals is False or intervals is None:
        return {}
    if intervals is True:
        return found
    wanted = {float(x) for x in intervals}
    missing = sorted(wanted - set(found))
    if missing:
        raise ITNetInputError(
            f"intervals {missing} are not in the forecast (found: {sorted(found)})"
        )
    return {k: v for k, v in found.items() if k in wanted}


def _panel(a, h, f, pcols, levels, kind, cutoff, hist, sid) -> None:
    import polars as pl

    from itnet_ts.data._frames import as_plot_time

    if h is not None and h.height:
        t = as_plot_time(h["time"].to_numpy(), kind)
        v = h["value"].to_numpy()
        a.plot(t, v, color=_HISTORY, lw=0.7, alpha=0.35)
        a.scatter(t, v, s=9, color=_HISTORY, zorder=3, label="history")
    cut_times: list[float] = []
    if f is not None and f.height:
        groups = f.partition_by("cutoff", maintain_order=True) if "cutoff" in f.columns else [f]
        for part in groups:
            part = part.sort("time")
            t = as_plot_time(part["time"].to_numpy(), kind)
            order = sorted(levels, reverse=True)
            for k, level in enumerate(order):
                lo, hi = levels[level]
                alpha = 0.12 + 0.18 * (k + 1) / len(order)
                a.fill_between(
                    t, part[lo].to_numpy(), part[hi].to_numpy(), color=_FORECAST,
                    alpha=alpha, lw=0, label=f"{level:g}% interval",
                )  # fmt: skip
            if pcols is not None and pcols.point is not None:
                a.plot(
                    t, part[pcols.point].to_numpy(), color=_FORECAST, lw=1.4, marker=".",
                    ms=4, label="forecast",
                )  # fmt: skip
            if "y" in part.columns:
                obs = part.filter(pl.col("y").is_not_null())
                a.scatter(
                    as_plot_time(obs["time"].to_numpy(), kind), obs["y"].to_numpy(), s=22,
                    facecolors="none", edgecolors=_ACTUAL, lw=1.0, zorder=4, label="actual",
                )  # fmt: skip
            if "cutoff" in part.columns:
                cut_times.append(part["cutoff"][0])
        if not cut_times and hist is not None:
            own = hist.filter(pl.col("unique_id") == sid)
            before = own.filter(pl.col("time") < f["time"].min())
            if before.height:
                cut_times.append(before["time"].max())
    if cutoff:
        for k, c in enumerate(sorted(set(cut_times))):
            a.axvline(
                as_plot_time(np.array([c]), kind)[0], color=_CUTOFF, ls="--", lw=1.0,
                label="cutoff" if k == 0 else None,
            )  # fmt: skip
