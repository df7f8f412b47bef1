"""Configuration of the ITNet forecasting model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["ITNetConfig"]


@dataclass
class ITNetConfig:
    """Hyperparameters of ``ITNet`` (the nn.Module). Times are in the data's time units.

    n_channels: number of channels C (set from the data).
    d_model: width D of the observation embedding and of every layer.
    n_layers: number of recurrent-mode ITNet blocks in the encoder.
    rank: R, the rank of the low-rank kernel factorisation (poles per channel of the state).
    kernel_hidden: hidden width of the feature-side MLP producing the kernel factors.
    ffn_mult: width multiplier of each block's feed-forward network.
    dropout: dropout on residual branches.
    n_fourier: Fourier frequencies for time-gap / lead-time features.
    timescale_min, timescale_max: range of the initial decay time scales ``1 / lam``.
    oscillatory: learn oscillatory poles ``exp(-lam L) cos(omega L)`` (seasonality).
    selective: modulate the elapsed time per step by a softplus selectivity of ``h_n``.
    kwn: kernel-weight normalisation (divide each pole by its kernel mass).
    integral_norm: the LayerNorm on the integral's output (each encoder transform's, and the
        decoder's on its read of the history: ``norm_out`` / ``attn_norm``), the paper's
        "LayerNorm on the integral". False drops them (an ablation; configs saved before the
        field load with True).
    weights: importance weights of observations: "uniform" (1 each) or "gap" (elapsed time,
        capped at ``gap_cap``) — the quadrature of ``int K(tau, s) v(s) ds``.
    n_outputs: outputs per query (1 point forecast + quantiles).
    decoder: how a query reads the encoded history: "recurrent" (closed-form evaluation of the
        last block's transform at the query time, from its final state), "attention" (an
        attention-mode transform of the query over the last block's output tokens) or "both"
        (the two reads summed).
    attn_lag_hidden: hidden width of the attention decoder's lag-kernel MLP (it runs on every
        (query, history point) pair, so it is kept small).
    query_cutoff_time: also give the query's time relative to the cutoff (``q_tau``) as a
        feature, besides the lead time from the last observation and the channel's age.
    n_static: static covariates per series (0: none). Their embedding is added to every
        observation token and every query.
    n_futr: known-future covariates (0: none), given at every history time point (as token
        features) and at every query time (as query features).
    start: what the forecast starts from before the network's correction: "mix" (a learned
        per-channel, per-lead-time combination of simple predictors: global mean, last value,
        history mean, recent mean, damped trend; ``itnet_ts.model.baselines``) or
        "persistence" (the channel's last value; models saved before "mix" existed).
    encoder_mode: how each encoder block's integral transform is evaluated (one kernel
        parameterisation, three modes; ``itnet_ts.model.layers.RecurrentTransform``):
        "recurrent" (the linear recurrence: O(N) time and memory, the default), "attention"
        (the same transform as causal weighted sums over all earlier points: O(N^2), same
        outputs), or "conv" (kernel factors that do not depend on the input, so the kernel is
        a function of the lag alone: a continuous causal convolution, evaluated O(N^2);
        incompatible with ``selective``). A model trained in any mode can be evaluated in
        "recurrent" or "attention" mode (``ITNet.set_encoder_mode``); only a model trained in
        "conv" mode has a lag-only kernel to evaluate in "conv" mode.
    integration: "exact" (every history point) or "monte_carlo": while training, the encoder
        integrates M(N) = min(N, max(mc_min_points, ceil(mc_factor * sqrt(N)))) sampled points
        with inverse-probability weights (``itnet_ts.model.monte_carlo``); predictions stay
        exact.
    mix_version: which mix of simple predictors (``start="mix"``): 2 (default) also has a
        smooth mean (exponential smoothing over about the last ten observations) and weights
        that depend on how much history the queried channel has (``log1p`` of its observation
        count) and how stale its last value is, besides the channel and the lead time; 1 is the
        first mix (five predictors, weights by channel and lead time; models saved before).
    period_f_min, period_df, period_n_freq: with ``period_n_freq > 0`` (and the second mix) the
        mix has a seventh predictor, ``periodic``: each window's period is searched on the grid
        ``period_f_min + k * period_df`` (cycles per time unit, ``k < period_n_freq``) and a
        harmonic fit per channel is extrapolated (``itnet_ts.model.periodic``). 0: no periodic
        predictor (the default; the estimator turns it on where it forecasts held-out points
        better than the history mean).
    """

    n_channels: int = 1
    d_model: int = 64
    n_layers: int = 2
    rank: int = 16
    kernel_hidden: int = 64
    ffn_mult: int = 2
    dropout: float = 0.1
    n_fourier: int = 8
    timescale_min: float = 0.5
    timescale_max: float = 200.0
    oscillatory: bool = False
    selective: bool = False
    kwn: bool = False
    integral_norm: bool = True
    weights: str = "uniform"
    gap_cap: float = 10.0
    n_outputs: int = 1
    decoder: str = "recurrent"
    attn_lag_hidden: int = 8
    query_cutoff_time: bool = False
    n_static: int = 0
    n_futr: int = 0
    start: str = "mix"
    encoder_mode: str = "recurrent"
    integration: str = "exact"
    mc_min_points: int = 64
    mc_factor: float = 8.0
    mix_version: int = 2
    period_f_min: float = 0.0
    period_df: float = 0.0
    period_n_freq: int = 0

    @property
    def period_grid(self) -> tuple[float, float, int] | None:
        """``(f_min, df, n_freq)`` of the periodic predictor, or None without one."""
        if self.period_n_freq <= 0:
            return None
        return (self.period_f_min, self.period_df, self.period_n_freq)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ITNetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ITNetConfig fields: {sorted(unknown)}")
        return cls(**d)
