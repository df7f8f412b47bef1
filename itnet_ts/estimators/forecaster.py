"""``ITNetForecaster``: the scikit-learn style estimator users fit on irregular dataframes."""

from __future__ import annotations

from typing import Any

import polars as pl
import torch
from sklearn.base import BaseEstimator

from itnet_ts.data._covariate_frames import locate_row
from itnet_ts.data._ingest import FrameSpec, format_time
from itnet_ts.data._queries import explicit_queries, forecast_frame, horizon_queries, query_frame
from itnet_ts.data._ragged import RaggedSeries
from itnet_ts.data._windows import forecast_windows
from itnet_ts.errors import ITNetInputError
from itnet_ts.estimators._batches import check_forecasts, predict_windows
from itnet_ts.estimators._contract import NotFittedError
from itnet_ts.estimators._covariates import futr_at_queries
from itnet_ts.estimators._engine import resolve_device, seeded, training_strategy
from itnet_ts.estimators._prepare import duration, ingest_new, prepare_training
from itnet_ts.estimators._pretrained import finetune_fit, pretrained, zero_shot
from itnet_ts.estimators._quantiles import forecast_columns
from itnet_ts.estimators._start_choice import train_from_starts
from itnet_ts.estimators._state import FittedState
from itnet_ts.estimators._streaming import merge_history, predict_from_cache, update_cache

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
            ``"auto"`` (default: the network trained from each of the two starts below, on
            the same windows and seed, and the one with the lower validation MSE kept; twice
            the training time; ``get_fitted_summary()["validation"]["start_choice"]`` has
            both scores), ``"mix"`` (a combination of simple predictors -- last value,
            history mean, recent mean, damped trend, smooth mean, global mean -- weighted per
            channel, lead time and the channel's history (observation count, staleness,
            level-shift signals), fitted to the training windows first, its feature set chosen
            on validation) or ``"persistence"`` (the last value).
        periodic: whether the mix gets a seventh predictor that finds each series' period
            from its own history (a multiband Lomb-Scargle search) and extrapolates a harmonic
            fit per channel: for light curves and other signals sampled far more sparsely
            than their period. ``"auto"`` (default) turns it on when, on up to 128 training
            series cut at 70% of their points, it forecasts the rest with an MSE below 0.8x the
            history mean's (``get_fitted_summary()["validation"]["periodic"]`` has the
            numbers); ``True`` / ``False`` force it (not with ``start="persistence"``). The search costs about N x F operations
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
        baseline_choice: which simple baseline the trained network is checked against at the
            end of ``fit`` (and falls back to where it does not beat it): ``"rolling"``
            (default) the better of persistence and the history mean on the validation
            windows where those separate the two (paired t-test, 5% two-sided), else the better
            one on rolling-origin windows over the fitted series (baselines need no training,
            so many more targets count); ``"validation"``: the better one on the validation
            windows alone. The network is always compared on the validation windows.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
        strategy: ``"single"`` (one process), ``"ddp"`` (data-parallel over the processes of a
            ``torch.distributed`` group, e.g. started by ``torchrun``; ``batch_size`` stays the
            global batch, only rank 0 writes files; see docs/distributed.md) or ``"auto"``
            (``"ddp"`` when launched with more than one process, else ``"single"``).
        random_state: seed; on the CPU the same seed and data give the same model.
        verbose: show a progress bar while training.
        checkpoint: a pretrained network (``None``: train from scratch): the name of a shipped
            checkpoint or a path; see ``pretrained`` and docs/pretrained.md.
        zero_shot_blend: zero-shot only (a pretrained forecaster predicting with no ``fit``):
            blend the network's forecast per channel with simple predictors (persistence,
            history mean, ...), weights fitted on backtests over the history given to
            ``predict`` (numbers in ``zero_shot_blend_``); ``False``: the network alone.
    """

    @classmethod
    def pretrained(cls, checkpoint: str | None = None, **params) -> ITNetForecaster:
        """A forecaster that predicts with no ``fit``: the shipped network pretrained on a
        synthetic prior (no download), any channels and time units; docs/pretrained.md."""
        return pretrained(cls, checkpoint, params)

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
        start: str = "auto",
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
        baseline_choice: str = "rolling",
        device: str = "auto",
        strategy: str = "auto",
        random_state: int | None = 0,
        verbose: bool = True,
        checkpoint: str | None = None,
        zero_shot_blend: bool = True,
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
        self.baseline_choice = baseline_choice
        self.device = device
        self.strategy = strategy
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint = checkpoint
        self.zero_shot_blend = zero_shot_blend

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
        finetune: str | None = None,
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
        baseline, with a warning (``get_fitted_summary()["validation"]`` has the numbers).

        A pretrained forecaster is fine-tuned instead: ``finetune="head"`` (default) trains
        the head and channel adapter only, ``"full"`` every weight."""
        self._validate_params()
        frame = dict(id_col=id_col, time_col=time_col, target_col=target_col,
                     variable_col=variable_col, value_col=value_col, shape=shape)  # fmt: skip
        if self.checkpoint is not None or finetune is not None:
            split = dict(
                static_df=static_df, cutoffs=cutoffs, val_df=val_df, val_cutoffs=val_cutoffs
            )
            return finetune_fit(self, df, frame, finetune, **split)
        seed = 0 if self.random_state is None else int(self.random_state)
        with (
            training_strategy(self.strategy, self._device(), seed) as strategy,
            seeded(seed, strategy.device),
        ):
            data = prepare_training(
                self, df, frame, static_df=static_df, cutoffs=cutoffs, val_df=val_df,
                val_cutoffs=val_cutoffs, rng=strategy.shared_rng, seed=seed,
            )  # fmt: skip
            best = train_from_starts(self, data, strategy, seed)
        summary = strategy.summary()
        FittedState.trained(best.model, best.data, best.result, best.validation, summary).apply(
            self
        )
        return self

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
        if (h is None) == (times is None):
            raise ITNetInputError("pass exactly one of h= (a horizon) or times= (query times)")
        if self.checkpoint is not None and getattr(self, "spec_", None) is None:
            bound = zero_shot(self, df, static_df, h=h, times=times, freq=freq)
            self.zero_shot_blend_ = (bound.validation_ or {}).get("zero_shot_blend")
            return bound.predict(h, df=df, times=times, freq=freq)
        self._check_fitted()
        state = FittedState.of(self)
        ragged, spec = self._forecast_history(df, static_df)
        if times is not None:
            q_series, q_time, q_chan = explicit_queries(
                ragged, times, state.spec, state.channels, df is not None, shown=spec
            )
        else:
            q_series, q_time, q_chan = self._horizon_queries(ragged, h, freq)
        q_futr = futr_at_queries(
            state.covariates, futr_df, state.spec, ragged.ids, q_series, q_time
        )
        windows = forecast_windows(ragged, q_series, q_time, q_chan, q_futr=q_futr)
        cache = getattr(self, "_stream_cache", None)
        if (
            df is None
            and cache is not None
            and cache.valid_for(state.model, state.history, self.max_history)
        ):  # update() streamed new data into the stored states: decode from them
            pred = predict_from_cache(cache, windows, self.batch_size)
        else:
            pred = predict_windows(
                state.model, ragged, windows, state.scaler, state.time_unit, self.batch_size,
                self.max_history, next(state.model.parameters()).device, progress=self.verbose,
            )  # fmt: skip
        values = forecast_columns(state.quantile_plan, pred, state.scaler, windows.q_chan)
        for v in values.values():  # name -> (Q,)
            check_forecasts(v, ragged, windows, state.channels)
        return forecast_frame(ragged, windows, state.channels, values, spec)

    def _forecast_history(self, df, static_df) -> tuple[RaggedSeries, FrameSpec]:
        """The series ``predict`` forecasts: those of ``df``, or the held history."""
        if df is not None:
            return self._ingest_new(df, static_df, "predict(df=...)")
        if static_df is not None:
            raise ITNetInputError(
                "static_df= is for series passed with df=; the series the model holds keep "
                "their static covariates. Drop static_df=, or pass df= with those series."
            )
        if self.history_ is None:
            raise ITNetInputError(
                "this model was loaded from a file and holds no data; "
                "pass the history to forecast from with predict(df=...)"
            )
        return self.history_, self.spec_

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
        if self.checkpoint is not None:
            raise ITNetInputError("update() is not supported by pretrained forecasters yet")
        state = FittedState.of(self)
        new, _ = self._ingest_new(df, static_df, "update(df)")
        merged, rows = merge_history(
            state.history,
            new,
            lambda sid, t: locate_row(df, state.spec, sid, t),
            lambda t: format_time(t, state.spec),
        )
        cache = self.__dict__.pop("_stream_cache", None)  # an interrupted update leaves none
        self._stream_cache = update_cache(
            cache, state.model, state.history, merged, new, rows, state.scaler, state.time_unit,
            self.batch_size, self.max_history,
        )  # fmt: skip
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
        q_series, q_time, q_chan = self._horizon_queries(self.history_, h, freq)
        first = q_chan == 0
        return query_frame(self.history_.ids[q_series[first]], q_time[first], self.spec_)

    def _ingest_new(self, df, static_df, where: str) -> tuple[RaggedSeries, FrameSpec]:
        """New observations ``df`` (+ statics) read the way the training frame was."""
        s = FittedState.of(self)
        return ingest_new(df, static_df, where, self, s.spec, s.scaler, s.covariates, s.history)

    def _horizon_queries(self, ragged: RaggedSeries, h, freq):
        horizon = self._duration(h, "h")
        step = self.time_unit_ if freq is None else self._duration(freq, "freq")
        return horizon_queries(ragged, horizon, step, len(self.channels_))

    # ---- helpers -------------------------------------------------------------------------
    def _validate_params(self) -> None:
        from itnet_ts.estimators._params import validate_params

        validate_params(self)

    def _device(self) -> torch.device:
        return resolve_device(self.device)

    def _duration(self, value, name: str) -> float:
        return duration(value, name, self.spec_, self.time_unit_, self.time_unit)

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
        last = pl.DataFrame({"unique_id": h.ids.tolist(), "last": h.last_times()})
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
        return FittedState.summary(self)
