"""``ITNetForecaster``: the scikit-learn style estimator users fit on irregular dataframes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import torch
from sklearn.base import BaseEstimator

from itnet_ts.data._batch_store import BatchStore
from itnet_ts.data._cutoffs import cutoff_windows
from itnet_ts.data._ingest import FrameSpec, ingest, to_user_frame
from itnet_ts.data._ragged import RaggedSeries, ragged_from_canonical
from itnet_ts.data._time import infer_time_unit, parse_duration
from itnet_ts.data._windows import (
    ChannelScaler,
    forecast_windows,
    training_windows,
    validation_windows,
)
from itnet_ts.errors import ITNetError, ITNetInputError
from itnet_ts.estimators._contract import NotFittedError
from itnet_ts.estimators._periodic import choose_period_grid
from itnet_ts.estimators._quantiles import QuantilePlan, forecast_columns, plan_outputs
from itnet_ts.estimators._training import (
    batches,
    fit_model,
    fit_start,
    loss_channel_weights,
    predict_windows,
    stored_batches,
)
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.itnet import ITNet

__all__ = ["ITNetForecaster"]


class ITNetForecaster(BaseEstimator):
    """Forecast irregularly sampled multichannel series with ITNet.

    A global model: it learns from every series of the training frame and forecasts any series
    given its history. Timestamps are used as they are (never resampled).

    Parameters:
        horizon: how far ahead training windows reach: a duration (``"6h"``) or a number of
            time units. ``None``: a quarter of the median series span.
        time_unit: the unit of the model's time coordinates (``"1h"``, a number for numeric
            time). ``None``: the median positive gap between time points.
        max_history: time points of history fed to the encoder (the most recent ones).
        d_model, n_layers, rank, dropout, oscillatory, selective, kwn, integral_norm, weights:
            ITNet architecture (see ``ITNetConfig``; ``integral_norm=False`` drops the LayerNorm
            on the integral's output, an ablation).
        start: what the forecast starts from, before the network's learned correction:
            ``"mix"`` (default: a combination of simple predictors -- last value, history
            mean, recent mean, damped trend, smooth mean, global mean -- weighted per channel,
            lead time and the channel's history (observation count, staleness, level-shift
            signals), fitted to the training windows first, its feature set chosen on
            validation) or ``"persistence"`` (the last value).
        periodic: whether the mix gets a seventh predictor that finds each series' period
            from its own history (a multiband Lomb-Scargle search) and extrapolates a harmonic
            fit per channel: for light curves and other signals sampled far more sparsely
            than their period. ``"auto"`` (default) turns it on when, on up to 128 training
            series cut at 70% of their points, it forecasts the rest with an MSE below 0.8x the
            history mean's (``get_fitted_summary()["validation"]["periodic"]`` has the
            numbers); ``True`` / ``False`` force it (``start="mix"`` only). The search costs about N x F operations
            per window (F up to 32,768 frequencies).
        decoder: how a query reads the encoded history: ``"recurrent"`` (closed form from the
            final state), ``"attention"`` or ``"both"`` (see ``ITNetConfig``).
        encoder_mode: how the encoder's integral transforms are evaluated: ``"recurrent"``
            (default: a linear recurrence, O(N)), ``"attention"`` (the same transform as causal
            sums over all earlier points, O(N^2) time and memory, the same forecasts) or
            ``"conv"`` (a kernel of the lag alone: a continuous causal convolution; not with
            ``selective=True``). After ``fit``, ``est.model_.set_encoder_mode(...)`` evaluates
            the fitted model in another mode (docs/model.md).
        integration: ``"exact"`` (default: the encoder integrates every history point) or
            ``"monte_carlo"``: while training, M(N) ~ 8 sqrt(N) sampled points (at least 64;
            the most recent half always) with inverse-probability weights, so long histories
            (a large ``max_history``) train at a fraction of the cost; forecasts stay exact.
        quantiles: quantile levels in (0, 1) to forecast, e.g. ``[0.1, 0.5, 0.9]``: adds the
            columns ``y_hat_q0.1, ...``. ``level``: central interval levels in (0, 100), e.g.
            ``[80, 95]``: adds ``y_hat-lo-80, y_hat-hi-80, ...`` (Nixtla style). Not both.
            Either way the model is trained with the pinball loss, ``y_hat`` is the median,
            and the quantiles never cross (see ``itnet_ts.estimators._quantiles``).
        futr_exog_list: names of known-future covariate columns (neuralforecast's name): their
            historic values are columns of the training frame, their values at the query
            times come in ``predict(futr_df=...)``. Static covariates come in
            ``fit(df, static_df=...)``. See docs/covariates-and-streaming.md.
        max_epochs, batch_size, learning_rate, patience: training; early stopping uses the
            last ``horizon`` of every series long enough as validation, and stops after
            ``patience`` epochs without a better validation loss, but not before a third of
            ``max_epochs``.
        windows_per_series: training windows drawn per series per epoch (``None``: enough
            for about 2048 windows per epoch, at most 32 per series).
        scaling: per-channel scaling fitted on the training data (``"standard"`` or ``"none"``).
        channel_weights: how much each channel's errors count in the training loss and in
            early stopping: ``"scaled"`` (default: squared errors in the scaled units, every
            target alike, so each channel counts by its number of targets), ``"data"``
            (squared errors in the data's own units: the pooled MSE of the raw values),
            ``"data_per_channel"`` (in the data's units, each channel's mean error counting
            the same however often it is observed: the per-variable averaged MSE of the
            PhysioNet benchmark), or a dict ``{channel: weight > 0}`` multiplying the scaled
            squared errors (channels not named weigh 1). Pick the one your metric uses.
        duplicates: what to do with repeated (series, time, channel) rows:
            ``"error"``, ``"mean"`` or ``"last"``.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
        strategy: ``"single"`` (one process), ``"ddp"`` (data-parallel over the processes of a
            ``torch.distributed`` group, e.g. started by ``torchrun``; ``batch_size`` stays the
            global batch, only rank 0 writes files; see docs/distributed.md) or ``"auto"``
            (``"ddp"`` when launched with more than one process, else ``"single"``).
        random_state: seed; on the CPU the same seed and data give the same model.
        verbose: show a progress bar while training.
    """

    def __init__(
        self,
        horizon: str | float | None = None,
        time_unit: str | float | None = None,
        max_history: int = 256,
        d_model: int = 64,
        n_layers: int = 2,
        rank: int = 16,
        dropout: float = 0.1,
        oscillatory: bool = False,
        selective: bool = False,
        kwn: bool = False,
        integral_norm: bool = True,
        weights: str = "uniform",
        start: str = "mix",
        periodic: str | bool = "auto",
        decoder: str = "recurrent",
        encoder_mode: str = "recurrent",
        integration: str = "exact",
        quantiles: list[float] | None = None,
        level: list[float] | None = None,
        futr_exog_list: list[str] | None = None,
        max_epochs: int = 30,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        patience: int = 5,
        windows_per_series: int | None = None,
        scaling: str = "standard",
        channel_weights: str | dict = "scaled",
        duplicates: str = "error",
        device: str = "auto",
        strategy: str = "auto",
        random_state: int | None = 0,
        verbose: bool = True,
    ):
        self.horizon = horizon
        self.time_unit = time_unit
        self.max_history = max_history
        self.d_model = d_model
        self.n_layers = n_layers
        self.rank = rank
        self.dropout = dropout
        self.oscillatory = oscillatory
        self.selective = selective
        self.kwn = kwn
        self.integral_norm = integral_norm
        self.weights = weights
        self.start = start
        self.periodic = periodic
        self.decoder = decoder
        self.encoder_mode = encoder_mode
        self.integration = integration
        self.quantiles = quantiles
        self.level = level
        self.futr_exog_list = futr_exog_list
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.windows_per_series = windows_per_series
        self.scaling = scaling
        self.channel_weights = channel_weights
        self.duplicates = duplicates
        self.device = device
        self.strategy = strategy
        self.random_state = random_state
        self.verbose = verbose

    # ---- fit -----------------------------------------------------------------------------
    def fit(
        self,
        df,
        y=None,
        *,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
        variable_col: str | None = None,
        value_col: str | None = None,
        shape: str = "auto",
        static_df=None,
        cutoffs=None,
        val_df=None,
        val_cutoffs=None,
    ) -> ITNetForecaster:
        """Fit on a pandas or polars frame (long, wide or tidy; see the data contract).

        ``y`` is ignored: the targets are in ``df`` (it is there for scikit-learn's
        ``Pipeline`` / ``GridSearchCV``, which call ``fit(X, y)``). ``static_df``: static
        covariates, the id column and one numeric column per covariate, a row per series;
        the columns of ``futr_exog_list`` are read from ``df`` (see the class docstring).

        Training windows: by default random cutoffs are drawn in every series each epoch.
        ``cutoffs`` fixes one cutoff per series instead (a protocol such as "24 h of history,
        forecast the rest"): a frame with the id column and the time column (one row per
        series), or one number for every series (numeric time). A window's history is the
        series' points at or before its cutoff, its targets every observation in
        ``(cutoff, cutoff + horizon]``.

        Validation (early stopping, and the check against simple baselines): by default the
        last ``horizon`` of every series long enough (or, with ``cutoffs``, a fifth of the
        series held out). ``val_df``: separate validation series in the layout of ``df``,
        at ``val_cutoffs`` (like ``cutoffs``) or, without them, at their last ``horizon``.

        After training, the network is scored on the validation windows beside persistence
        and the per-series history mean; a channel where a baseline did better uses that
        baseline, with a warning (``get_fitted_summary()["validation"]`` has the numbers)."""
        self._validate_params()
        from itnet_ts.estimators._covariates import check_futr_names, fit_covariates, split_futr

        futr_cols = list(self.futr_exog_list or [])
        check_futr_names(futr_cols, {"id": id_col, "time": time_col})
        df, full_df = split_futr(df, futr_cols, "the training frame")
        canon, spec = ingest(
            df,
            id_col=id_col,
            time_col=time_col,
            target_col=target_col,
            variable_col=variable_col,
            value_col=value_col,
            shape=shape,
            duplicates=self.duplicates,
        )
        ragged = ragged_from_canonical(canon, spec.channels)
        _check_training_data(ragged, spec)
        cov, ragged = fit_covariates(ragged, spec, futr_cols, full_df, static_df)
        unit = (
            infer_time_unit(canon)
            if self.time_unit is None
            else parse_duration(self.time_unit, spec.time_kind)
        )
        if cutoffs is not None and self.horizon is None:
            horizon = float(np.inf)  # fixed cutoffs: everything after the cutoff is a target
        else:
            horizon = self._training_horizon(ragged, spec, unit)
        device = self._device()
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        from itnet_ts.estimators._ddp import start_ddp

        ddp = start_ddp(self.strategy, device, seed)  # None: one process
        if ddp is not None:  # this rank's device and window draws (see _ddp.py)
            device, rng = ddp.device, ddp.rng
        batch_size = self.batch_size if ddp is None else ddp.local_batch(self.batch_size)

        plan = plan_outputs(self.quantiles, self.level)
        fixed = None
        if cutoffs is not None:
            fixed = cutoff_windows(ragged, self._cutoff_array(cutoffs, ragged, spec), horizon)
            if len(fixed) == 0:
                raise ITNetInputError(
                    "cutoffs=: no series has both a point at or before its cutoff and an "
                    "observation after it; check the cutoff times against the data"
                )
        val_ragged = ragged
        if val_df is not None:
            val_ragged, val_windows = None, None  # ingested below, once the scaler is known
            train_end = ragged.indptr[1:].copy()
        elif fixed is not None:
            fixed, val_windows = _hold_out(fixed, rng)
            train_end = ragged.indptr[1:].copy()
        else:
            val_windows, train_end = validation_windows(ragged, horizon)
        train_view = _truncate(ragged, train_end)
        scaler = ChannelScaler.fit(train_view, self.scaling)
        _check_value_range(ragged, scaler, "the training frame", self.scaling)
        if val_df is not None:  # read like predict(df=...) reads new series
            self.spec_, self.channels_, self.scaler_ = spec, spec.channels, scaler
            self.covariates_, self.history_ = cov, ragged
            val_ragged, _ = self._ingest_new(val_df, None, "fit(val_df=...)")
            if val_cutoffs is not None:
                cut = self._cutoff_array(val_cutoffs, val_ragged, spec, "val_cutoffs")
                val_windows = cutoff_windows(val_ragged, cut, horizon)
            else:
                val_windows, _ = validation_windows(val_ragged, horizon)
        counts = train_view.mask.sum(axis=0)  # (C,) training observations per channel
        cw = loss_channel_weights(self.channel_weights, spec.channels, scaler.scale, counts)
        # initial decay time scales span from a fraction of a gap to the history length
        span = float(np.median(_spans(ragged))) / unit if ragged.n_series else 1.0
        period_grid, periodic = choose_period_grid(
            self.periodic, train_view, scaler, unit, self.start, self.max_history, seed
        )
        cfg = ITNetConfig(
            n_channels=len(spec.channels),
            d_model=self.d_model,
            n_layers=self.n_layers,
            rank=self.rank,
            kernel_hidden=self.d_model,
            dropout=self.dropout,
            timescale_min=0.5,
            timescale_max=max(2.0, 2 * span),
            oscillatory=self.oscillatory,
            selective=self.selective,
            kwn=self.kwn,
            integral_norm=self.integral_norm,
            weights=self.weights,
            start=self.start,
            period_f_min=0.0 if period_grid is None else period_grid[0],
            period_df=0.0 if period_grid is None else period_grid[1],
            period_n_freq=0 if period_grid is None else period_grid[2],
            decoder=self.decoder,
            encoder_mode=self.encoder_mode,
            integration=self.integration,
            n_outputs=plan.n_outputs,
            n_static=cov.n_static,
            n_futr=cov.n_futr,
        )
        model = ITNet(cfg).to(device)
        per_series = self.windows_per_series or int(
            min(32, max(1, math.ceil(2048 / max(ragged.n_series, 1))))
        )

        def store(rg: RaggedSeries, ws) -> BatchStore:  # the windows' batches, packed once
            return BatchStore(rg, ws, scaler, unit, self.max_history, device=device)

        train_store = None
        if fixed is not None:  # fixed windows: the same batches every epoch
            train_store = store(ragged, fixed if ddp is None else ddp.shard_windows(fixed))

        def train_batches(epoch: int):
            if train_store is not None:
                return stored_batches(train_store, batch_size, rng)
            if ddp is not None:  # this rank's shard of the series
                ws = ddp.shard(ragged, train_end, horizon, per_series, epoch)
            else:
                ws = training_windows(
                    ragged, horizon, rng, per_series, train_end=train_end, max_history=None
                )
            if len(ws) == 0:
                raise ITNetInputError(
                    "no training window found: every series needs at least two time points "
                    f"less than the horizon ({_fmt_duration(horizon, spec)}) apart; "
                    "pass a larger horizon= or more data per series"
                )
            return batches(ragged, ws, scaler, unit, batch_size, self.max_history, rng)

        val_batches, val_store = None, None
        if val_windows is not None and len(val_windows) > 0:
            val_store = store(val_ragged, val_windows)  # all of them: the baseline check
            val_shard = (
                val_store if ddp is None else store(val_ragged, ddp.shard_windows(val_windows))
            )

            def val_batches():
                return stored_batches(val_shard, batch_size)

        # the mix of simple predictors, fitted on one extra draw of training windows (its
        # feature set chosen on the validation windows)
        start = fit_start(
            model,
            train_batches(self.max_epochs),
            device,
            val_iter=None if val_store is None else stored_batches(val_store, batch_size),
        )
        result = fit_model(
            model,
            train_batches,
            val_batches,
            max_epochs=self.max_epochs,
            learning_rate=self.learning_rate,
            patience=self.patience,
            device=device,
            progress=self.verbose and (ddp is None or ddp.rank == 0),
            distributed=ddp,
            loss="pinball" if plan.probabilistic else "mse",
            channel_weights=None if cw is None else torch.as_tensor(cw, dtype=torch.float32),
            quantiles=plan.quantiles or None,
            keep_start=True,  # never worse on validation than the untrained start (the mix)
            # the zero-initialised head can sit near its start for a few epochs before the
            # network improves: early stopping waits for a third of max_epochs
            min_epochs=self.max_epochs // 3,
        )
        if ddp is not None:
            ddp.close()
        _check_converged(result)
        validation = self._select_fallback(model, val_store, device, spec.channels)
        validation["start"] = {**start, "val_loss": result.start_val_loss}
        validation["periodic"] = periodic
        self.model_ = model
        self.config_ = cfg
        self.spec_ = spec
        self.channels_ = spec.channels
        self.time_unit_ = unit
        self.horizon_ = horizon
        self.scaler_ = scaler
        self.history_ = ragged
        self.covariates_ = cov
        self.train_result_ = result
        self.n_series_ = ragged.n_series
        self.distributed_ = None if ddp is None else ddp.summary()
        self.quantile_plan_ = plan
        self.validation_ = validation
        return self

    def _cutoff_array(self, cutoffs, ragged: RaggedSeries, spec: FrameSpec, name="cutoffs"):
        """(S,) cutoff of every series of ``ragged`` in native time units, from a number (numeric
        time) or a frame of the id and time columns (one row per series)."""
        from numbers import Real

        if isinstance(cutoffs, Real) and not isinstance(cutoffs, bool):
            if spec.time_kind != "numeric":
                raise ITNetInputError(
                    f"{name}={cutoffs!r}: a single number only works with numeric time; the "
                    f"time column {spec.time_col!r} holds datetimes, so pass a frame with the "
                    "id and time columns, one row per series"
                )
            return np.full(ragged.n_series, cutoffs, dtype=ragged.times.dtype)
        from itnet_ts.data._queries import ingest_queries

        if not hasattr(cutoffs, "columns"):
            raise ITNetInputError(
                f"{name}= must be a number (numeric time) or a frame with the id and time "
                f"columns, one row per series; got {type(cutoffs).__name__}"
            )
        q = ingest_queries(cutoffs, spec)
        ids = q["unique_id"].to_list()
        if len(set(ids)) != len(ids):
            raise ITNetInputError(f"{name}= has more than one row for some series; give one each")
        given = dict(zip(ids, q["time"].to_numpy(), strict=True))
        missing = [i for i in ragged.ids.tolist() if i not in given]
        if missing:
            raise ITNetInputError(
                f"{name}= has no cutoff for series {[str(m) for m in missing[:5]]}"
                f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}; give one row "
                "per series of the frame"
            )
        return np.array([given[i] for i in ragged.ids.tolist()], dtype=ragged.times.dtype)

    def _select_fallback(self, model, val_store, device, channels) -> dict:
        """Score the trained network and the simple baselines on the validation windows; set
        the model's per-channel fallback where a baseline did better, and warn."""
        from itnet_ts.estimators._training import (
            select_fallback,
            summarise_validation,
            validation_scores,
        )

        if val_store is None:
            return {"n_targets": 0, "note": "no validation windows: nothing was checked"}
        scores = validation_scores(model, stored_batches(val_store, self.batch_size), device)
        codes = select_fallback(scores)
        model.fallback.copy_(torch.as_tensor(codes))
        summary = summarise_validation(scores, codes, channels)
        if summary["fallback"]:
            import warnings

            from itnet_ts.errors import BaselineFallbackWarning

            chans = summary["fallback"]
            warnings.warn(
                f"ITNetForecaster: on the validation windows the trained network (MSE "
                f"{summary['mse_network']:.4g}) was beaten by a simple baseline on "
                f"{len(chans)} of {len(summary['per_channel'])} channels "
                f"({dict(list(chans.items())[:5])}{' ...' if len(chans) > 5 else ''}); those "
                f"channels use it (MSE after: {summary['mse_fitted']:.4g}; persistence "
                f"{summary['mse_persistence']:.4g}, history mean "
                f"{summary['mse_history_mean']:.4g}). Details: "
                "get_fitted_summary()['validation'].",
                BaselineFallbackWarning,
                stacklevel=3,
            )
        return summary

    # ---- predict -------------------------------------------------------------------------
    def predict(
        self,
        h: str | float | None = None,
        *,
        df=None,
        times=None,
        freq: str | float | None = None,
        futr_df=None,
        static_df=None,
    ):
        """Forecast after the end of each series' history.

        Args:
            h: horizon (a duration such as ``"6h"`` or a number of time units); queries every
                channel at ``t_last + k * freq`` for ``k = 1, 2, ...`` while within ``h``.
            df: history to forecast from (any series, seen in training or not); default: the
                training frame.
            times: explicit query times instead of ``h``: a frame with the id column (unless
                there is one series), the time column and optionally the variable column
                (default: every channel at each time).
            freq: spacing of the query times for ``h`` (default: the fitted ``time_unit_``).
            futr_df: values of the known-future covariates (``futr_exog_list``) at every query
                time: id, time and those columns (``make_future_dataframe`` lists the query
                times of a horizon). Required when the model was fit with them.
            static_df: static covariates of series passed with ``df=`` that the model does not
                hold (series of the training frame keep their training values).

        After ``update(...)``, forecasts of the held history are decoded from the streamed
        encoder states (no re-encoding).

        Returns:
            A long frame ``[unique_id,] ds, [variable,] y_hat`` of the caller's library, plus
            ``y_hat-lo-<level>`` / ``y_hat-hi-<level>`` or ``y_hat_q<q>`` columns when fitted
            with ``level=`` / ``quantiles=``.
        """
        self._check_fitted()
        if (h is None) == (times is None):
            raise ITNetInputError("pass exactly one of h= (a horizon) or times= (query times)")
        spec = self.spec_
        from itnet_ts.estimators._covariates import (
            Covariates,
            futr_at_queries,
        )

        cov = getattr(self, "covariates_", None) or Covariates()
        if df is not None:
            ragged, spec = self._ingest_new(df, static_df, "predict(df=...)")
        elif static_df is not None:
            raise ITNetInputError(
                "static_df= is for series passed with df=; the series the model holds keep "
                "their static covariates. Drop static_df=, or pass df= with those series."
            )
        elif self.history_ is None:
            raise ITNetInputError(
                "this model was loaded from a file and holds no data; "
                "pass the history to forecast from with predict(df=...)"
            )
        else:
            ragged = self.history_
        if times is not None:
            q_series, q_time, q_chan = self._explicit_queries(ragged, times, spec, df is not None)
        else:
            q_series, q_time, q_chan = self._horizon_queries(ragged, h, freq)
        q_futr = futr_at_queries(cov, futr_df, self.spec_, ragged.ids, q_series, q_time)
        windows = forecast_windows(ragged, q_series, q_time, q_chan, q_futr=q_futr)
        cache = getattr(self, "_stream_cache", None)
        if (
            df is None
            and cache is not None
            and cache.valid_for(self.model_, self.history_, self.max_history)
        ):  # update() streamed new data into the stored states: decode from them
            from itnet_ts.estimators._streaming import predict_from_cache

            pred = predict_from_cache(cache, windows, self.batch_size)
        else:
            pred = predict_windows(
                self.model_,
                ragged,
                windows,
                self.scaler_,
                self.time_unit_,
                self.batch_size,
                self.max_history,
                next(self.model_.parameters()).device,
                progress=self.verbose,
            )
        series = np.repeat(windows.series, np.diff(windows.q_indptr))
        plan = getattr(self, "quantile_plan_", None) or QuantilePlan()
        values = forecast_columns(plan, pred, self.scaler_, windows.q_chan)  # name -> (Q,)
        for v in values.values():
            _check_forecasts(v, ragged, windows, self.channels_)
        out = pl.DataFrame(
            {
                "unique_id": pl.Series(ragged.ids[series].tolist()),
                "time": windows.q_time,
                "variable": [self.channels_[c] for c in windows.q_chan],
                **values,
            }
        ).sort(["unique_id", "time", "variable"])
        return to_user_frame(out, spec, value_cols=list(values))

    # ---- streaming -----------------------------------------------------------------------
    def update(self, df, *, static_df=None) -> ITNetForecaster:
        """Fold new observations into the model's state: the next ``predict`` (without
        ``df=``) forecasts from them with no refit and no re-encoding of the history.

        ``df`` follows the data contract of ``fit`` (long / wide / tidy, pandas / polars, the
        same column names; with ``futr_exog_list``, those columns on every row). Each new time
        point must be later than the end of its series' history (else ``ITNetInputError``
        naming the row). Series the model does not hold yet are added and encoded from their
        new points (give their statics in ``static_df`` if the model uses static covariates).
        The new points are appended to ``history_``, so re-encoding it from scratch gives the
        same forecasts (exactly while a series holds at most ``max_history`` time points; see
        docs/covariates-and-streaming.md for longer series).

        The first call encodes every held series once; later calls cost O(new points). The
        weights are not changed: refit now and then to learn from the new data.
        Returns ``self``.
        """
        self._check_fitted()
        from itnet_ts.estimators._covariates import locate_row
        from itnet_ts.estimators._streaming import merge_history, update_cache

        user_df = df
        new, _ = self._ingest_new(df, static_df, "update(df)")
        merged, rows = merge_history(
            self.history_,
            new,
            lambda sid, t: locate_row(user_df, self.spec_, sid, t),
            lambda t: _fmt_time(t, self.spec_),
        )
        cache = self.__dict__.pop("_stream_cache", None)  # an interrupted update leaves none
        self._stream_cache = update_cache(
            cache,
            self.model_,
            self.history_,
            merged,
            new,
            rows,
            self.scaler_,
            self.time_unit_,
            self.batch_size,
            self.max_history,
        )
        self.history_ = merged
        return self

    def make_future_dataframe(self, h: str | float, *, freq: str | float | None = None):
        """The query times ``predict(h=h, freq=freq)`` uses: ``[id_col,] time_col``, a row per
        series and time, in the caller's library. Add the known-future covariate columns
        and pass it as ``predict(futr_df=...)``."""
        self._check_fitted()
        if self.history_ is None:
            raise ITNetInputError(
                "this model was loaded from a file and holds no data; the query times of "
                "predict(df=..., h=...) start at the end of each series of df"
            )
        import dataclasses

        q_series, q_time, q_chan = self._horizon_queries(self.history_, h, freq)
        first = q_chan == 0
        out = pl.DataFrame(
            {
                "unique_id": pl.Series(self.history_.ids[q_series[first]].tolist()),
                "time": q_time[first],
            }
        )
        return to_user_frame(out, dataclasses.replace(self.spec_, shape="long"), value_cols=[])

    def _ingest_new(self, df, static_df, where: str):
        """Ingest new observations ``df`` (+ statics) the way the training frame was read:
        same frame spec, channels, scaling checks and covariates -> (RaggedSeries, FrameSpec)."""
        from itnet_ts.estimators._covariates import Covariates, attach_covariates, split_futr

        cov = getattr(self, "covariates_", None) or Covariates()
        df, full_df = split_futr(df, cov.futr_cols, where)
        canon, spec = ingest(
            df,
            id_col=self.spec_.id_col or "unique_id",
            time_col=self.spec_.time_col,
            target_col=self.spec_.target_col or "y",
            variable_col=self.spec_.variable_col,
            value_col=self.spec_.value_col,
            duplicates=self.duplicates,
            spec=self.spec_,
        )
        ragged = ragged_from_canonical(canon, self.channels_)
        _check_value_range(ragged, self.scaler_, where, self.scaling)
        ragged = attach_covariates(
            cov, ragged, self.spec_, full_df, static_df, self.history_, where
        )
        return ragged, spec

    def _horizon_queries(self, ragged: RaggedSeries, h, freq):
        horizon = self._duration(h, "h")
        step = self.time_unit_ if freq is None else self._duration(freq, "freq")
        n_steps = max(1, math.floor(horizon / step + 1e-9))
        offsets = step * np.arange(1, n_steps + 1)  # (K,)
        last = ragged.times[ragged.indptr[1:] - 1]  # (S,)
        S, K, C = ragged.n_series, len(offsets), len(self.channels_)
        if ragged.times.dtype.kind in "iu":
            t = last[:, None] + np.round(offsets).astype(np.int64)[None, :]
        else:
            t = last[:, None] + offsets[None, :]
        q_series = np.repeat(np.arange(S), K * C)
        q_time = np.repeat(t.reshape(-1), C)
        q_chan = np.tile(np.arange(C), S * K)
        return q_series, q_time, q_chan

    def _explicit_queries(self, ragged: RaggedSeries, times, spec: FrameSpec, df_given: bool):
        from itnet_ts.data._queries import ingest_queries

        q = ingest_queries(times, self.spec_)  # unique_id, time, [variable]
        id_index = {k: i for i, k in enumerate(ragged.ids.tolist())}
        ids = q["unique_id"].to_list()
        missing = sorted({str(i) for i in ids if i not in id_index})
        if missing:
            src = "df=" if df_given else "the training frame"
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise ITNetInputError(
                f"times= asks for series with no history in {src}: {missing[:5]}{more}. "
                f"{self.spec_.id_col or 'unique_id'!r} must name series whose history is known: "
                "pass their history with predict(df=..., times=...), or fix the ids."
            )
        q_series = np.array([id_index[i] for i in ids], dtype=np.int64)
        q_time = q["time"].to_numpy()
        if "variable" in q.columns:
            chan_index = {c: i for i, c in enumerate(self.channels_)}
            unknown = sorted(set(q["variable"].to_list()) - set(chan_index))
            if unknown:
                raise ITNetInputError(
                    f"times= asks for channels never seen in training: {unknown}; "
                    f"known channels: {list(self.channels_)}"
                )
            q_chan = np.array([chan_index[v] for v in q["variable"].to_list()], np.int64)
        else:
            C = len(self.channels_)
            q_series, q_time = np.repeat(q_series, C), np.repeat(q_time, C)
            q_chan = np.tile(np.arange(C), len(ids))
        last = ragged.times[ragged.indptr[1:] - 1][q_series]
        bad = np.nonzero(q_time <= last)[0]
        if len(bad):
            i = int(bad[0])
            fmt = lambda t: _fmt_time(t, spec)  # noqa: E731
            n_bad = len(set(zip(q_series[bad].tolist(), q_time[bad].tolist(), strict=True)))
            more = f" ({n_bad} such query times in all)" if n_bad > 1 else ""
            raise ITNetInputError(
                f"times=: query time {fmt(q_time[i])} of series {ragged.ids[q_series[i]]!r} is at "
                f"or before the end of that series' history ({fmt(last[i])}){more}. Query times "
                "must be after the cutoff (the series' last observed time): drop those rows "
                "from times=, or pass a shorter history with df="
            )
        return q_series, q_time, q_chan

    # ---- helpers -------------------------------------------------------------------------
    def _validate_params(self) -> None:
        from itnet_ts.estimators._params import validate_params

        validate_params(self)

    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ITNetInputError(
                "device='cuda' but no CUDA device is available; use 'auto' or 'cpu'"
            )
        return torch.device(self.device)

    def _training_horizon(self, ragged: RaggedSeries, spec: FrameSpec, unit: float) -> float:
        if self.horizon is not None:
            return self._duration(self.horizon, "horizon", spec, unit)
        spans = _spans(ragged)
        spans = spans[spans > 0]
        return float(np.median(spans)) / 4 if len(spans) else unit

    def _duration(self, value, name: str, spec: FrameSpec | None = None, unit=None) -> float:
        """A duration in native units. A bare number is in the data's own units for numeric
        time; for datetimes it counts ``time_unit`` only when the user set ``time_unit``."""
        spec = spec or self.spec_
        unit = unit if unit is not None else getattr(self, "time_unit_", None)
        explicit = unit if (spec.time_kind == "datetime" and self.time_unit is not None) else None
        try:
            return parse_duration(value, spec.time_kind, explicit)
        except ITNetInputError as exc:
            raise ITNetInputError(f"{name}={value!r}: {exc}") from None

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                "this ITNetForecaster is not fitted yet; call fit(df) or ITNetForecaster.load(path)"
            )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    # backtesting and scoring live in _cv.py; thin methods keep the API discoverable
    def score(self, X, y=None) -> float:
        """Negative mean squared error of forecasts of ``X``'s observations (higher is
        better), for ``GridSearchCV`` / ``cross_validate`` with ``TimeCutoffSplitter``.

        Every observation of ``X`` after the end of its series' training data is forecast
        at its own (time, channel) from the training history, as in a
        ``cross_validation`` window; other rows and series not seen in training are
        ignored. ``y`` is ignored."""
        from itnet_ts.estimators._cv import score_forecaster

        self._check_fitted()
        if self.history_ is None:
            raise ITNetInputError(
                "score needs the training history, which a model loaded from a file does "
                "not hold; use itnet_ts.metrics.evaluate on predict(df=..., times=...) output"
            )
        h = self.history_
        last = pl.DataFrame({"unique_id": h.ids.tolist(), "last": h.times[h.indptr[1:] - 1]})
        return score_forecaster(self, X, self.spec_, last, self.duplicates)

    def cross_validation(self, df, **kwargs):
        """Backtest on ``df``: ``itnet_ts.cross_validation(self, df, ...)`` (same
        arguments: ``n_windows``, ``h``, ``step_size``, ``refit``, ...). Works on clones;
        this estimator is left as it is."""
        from itnet_ts.estimators._cv import cross_validation

        return cross_validation(self, df, **kwargs)

    # persistence lives in _persistence.py; thin methods keep the API discoverable
    def save(self, path, overwrite: bool = False) -> None:
        """Write the fitted model to ``path`` (safetensors weights + JSON config; no pickle),
        atomically; an existing file is replaced only with ``overwrite=True``. After a DDP fit
        only rank 0 writes (the other ranks hold the same model)."""
        from itnet_ts.estimators._ddp import is_writer
        from itnet_ts.estimators._persistence import save_forecaster

        self._check_fitted()
        if not is_writer(self):
            return
        save_forecaster(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path, device: str = "cpu") -> ITNetForecaster:
        """Load a model written by ``save``. Never executes code from the file."""
        from itnet_ts.estimators._persistence import load_forecaster

        return load_forecaster(cls, path, device)

    def get_fitted_summary(self) -> dict[str, Any]:
        """Plain-dict summary of the fitted model (for logs and the CLI)."""
        self._check_fitted()
        return {
            "n_series": self.n_series_,
            "channels": list(self.channels_),
            "time_unit": self.time_unit_,
            "horizon": self.horizon_,
            "best_epoch": self.train_result_.best_epoch,
            "best_val_loss": self.train_result_.best_val_loss,
            "n_parameters": sum(p.numel() for p in self.model_.parameters()),
            "validation": getattr(self, "validation_", None),
        }


#: Largest magnitude of a scaled value fed to the network: the float32 layers overflow (NaN
#: forecasts) somewhere above 1e20; 1e15 leaves room for the products inside them.
_MAX_SCALED = 1e15


def _check_training_data(ragged: RaggedSeries, spec: FrameSpec) -> None:
    """Refuse training data the model cannot learn from, naming what is wrong."""
    n_obs = ragged.mask.sum(0)
    never = [c for c, n in zip(spec.channels, n_obs, strict=True) if n == 0]
    if never:
        where = (
            f"every value of column{'s' if len(never) > 1 else ''} {never} is null/NaN"
            if spec.shape == "wide"
            else f"every row of {spec.variable_col or 'variable'} {never} has a null/NaN value"
        )
        raise ITNetInputError(
            f"channel{'s' if len(never) > 1 else ''} {never} {'are' if len(never) > 1 else 'is'} "
            f"never observed in the training frame ({where}), so the model cannot learn or "
            "forecast it. Drop it before fit, or give observations of it."
        )
    if ragged.n_series and int(ragged.lengths().max()) < 2:
        raise ITNetInputError(
            f"every series has a single time point ({ragged.n_series} series, e.g. "
            f"{ragged.ids[0]!r}); training needs series with at least two time points (a "
            "history and a later value to forecast). Give longer series."
        )


def _check_value_range(ragged: RaggedSeries, scaler: ChannelScaler, what: str, scaling: str):
    """Refuse values so far from the training scale that float32 arithmetic would overflow."""
    if not ragged.mask.any():
        return
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.where(ragged.mask, np.abs(scaler.transform(ragged.values)), 0.0)  # (T, C)
    z = np.where(np.isnan(z), np.inf, z)
    flat = int(np.argmax(z))
    point, c = divmod(flat, z.shape[1])
    if z[point, c] <= _MAX_SCALED:
        return
    s = int(np.searchsorted(ragged.indptr, point, side="right")) - 1
    value = ragged.values[point, c]
    fix = (
        "Use scaling='standard' (the default) or rescale the channel."
        if scaling == "none"
        else "Check the units of that channel, or refit on data of the same scale."
    )
    raise ITNetInputError(
        f"{what}: channel {ragged.channels[c]!r} of series {ragged.ids[s]!r} has the value "
        f"{value:g}, more than {_MAX_SCALED:g} times the training scale of that channel "
        f"(scale {scaler.scale[c]:g}, scaling={scaling!r}); the model's float32 arithmetic "
        f"cannot hold it. {fix}"
    )


def _check_forecasts(y_hat: np.ndarray, ragged: RaggedSeries, windows, channels) -> None:
    """Never hand back NaN / infinite forecasts silently."""
    bad = np.flatnonzero(~np.isfinite(y_hat))
    if len(bad) == 0:
        return
    q = int(bad[0])
    w = int(np.searchsorted(windows.q_indptr, q, side="right")) - 1
    raise ITNetError(
        f"{len(bad)} forecasts are not finite (first: series "
        f"{ragged.ids[windows.series[w]]!r}, channel {channels[windows.q_chan[q]]!r}); the "
        "values or times are beyond what the model can represent. Check the data for extreme "
        "values or times, and report this if they look ordinary."
    )


def _check_converged(result) -> None:
    """A run whose training or validation loss went NaN / infinite diverged: never keep it."""
    from itnet_ts.estimators._training import TrainingDivergedError

    for rec in result.history:
        for key in ("train_loss", "val_loss"):
            if key in rec and not math.isfinite(float(rec[key])):
                raise TrainingDivergedError(
                    f"training diverged: the {key.replace('_', ' ')} was {rec[key]} at epoch "
                    f"{rec['epoch']}; nothing was kept. Lower learning_rate= or check the data "
                    "for extreme values."
                )


def _hold_out(windows, rng: np.random.Generator, fraction: float = 0.2):
    """Split fixed windows by series: (train, validation); no validation under 5 windows."""
    n = len(windows)
    if n < 5:
        return windows, None
    val = np.zeros(n, bool)
    val[rng.permutation(n)[: max(1, round(fraction * n))]] = True
    return _subset(windows, ~val), _subset(windows, val)


def _subset(w, keep: np.ndarray):
    """The windows ``keep`` (bool (W,)) of a WindowSet, queries included."""
    idx = np.nonzero(keep)[0]
    qa, qb = w.q_indptr[idx], w.q_indptr[idx + 1]
    q = np.concatenate([np.arange(a, b) for a, b in zip(qa, qb, strict=True)] or [[]]).astype(
        np.int64
    )
    return type(w)(
        series=w.series[idx],
        hist_start=w.hist_start[idx],
        hist_end=w.hist_end[idx],
        cutoff=np.asarray(w.cutoff)[idx],
        q_indptr=np.concatenate([[0], np.cumsum(qb - qa)]).astype(np.int64),
        q_time=w.q_time[q],
        q_chan=w.q_chan[q],
        q_target=w.q_target[q],
        q_futr=None if w.q_futr is None else w.q_futr[q],
    )


def _spans(ragged: RaggedSeries) -> np.ndarray:
    """(S,) time span of each series in native units (float64)."""
    first = ragged.times[ragged.indptr[:-1]]
    last = ragged.times[ragged.indptr[1:] - 1]
    return (last - first).astype(np.float64)


def _truncate(ragged: RaggedSeries, end: np.ndarray) -> RaggedSeries:
    """The part of every series before flat index ``end[s]`` (used to fit the scaler)."""
    keep = np.zeros(len(ragged.times), bool)
    for s in range(ragged.n_series):
        keep[ragged.indptr[s] : end[s]] = True
    lengths = end - ragged.indptr[:-1]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return RaggedSeries(
        ragged.ids,
        indptr,
        ragged.times[keep],
        ragged.values[keep],
        ragged.mask[keep],
        ragged.channels,
    )


def _fmt_time(value, spec: FrameSpec) -> str:
    """A canonical time as the user would write it (datetime in the user's zone, or number)."""
    from itnet_ts.data._ingest import _fmt_time as fmt
    from itnet_ts.data._ingest import _TimeMeta

    return fmt(value, _TimeMeta(spec.time_kind, spec.time_zone, spec.time_dtype))


def _fmt_duration(value: float, spec: FrameSpec) -> str:
    if spec.time_kind == "datetime":
        import pandas as pd

        return str(pd.Timedelta(int(value), unit="ns"))
    return f"{value:g}"
