"""Simple per-series predictors and the learned combination the forecast starts from.

Each query (series, channel ``c``, lead time ``L`` after the series' last observation) gets
``K = len(PREDICTORS)`` simple forecasts, all in the channel's scaled units:

- ``global_mean``: 0 (the training mean of the channel, after standard scaling);
- ``last_value``: the channel's last observed value (persistence);
- ``history_mean``: the mean of the channel's observations in the history;
- ``recent_mean``: an exponentially weighted mean over the channel's most recent observations
  (weight ``RECENT_DECAY ** k`` for the ``k``-th most recent);
- ``damped_trend``: a weighted straight line through the recent observations (weights
  ``TREND_DECAY ** k``), extrapolated with a slope that fades out over the weighted time spread
  of those observations (continuous-time damped trend);
- ``smooth_mean``: the exponentially weighted mean with the trend's weights ``TREND_DECAY **
  k`` (simple exponential smoothing over about the last ten observations: less noise than
  ``recent_mean``, more local than ``history_mean``). Only in the second mix
  (``ITNetConfig.mix_version = 2``); the first uses the first five predictors.
- ``periodic``: the channel's harmonic fit at the series' own period, searched on its history
  (``itnet_ts.model.periodic``); only in models with a period grid (``ITNetConfig.period_grid``),
  else (and where a channel has too few observations for the fit) the smooth mean.

A channel never observed in the history falls back to ``global_mean`` in every predictor.
:class:`BaselineMix` mixes them with softmax weights chosen per channel and lead time; ITNet
adds its learned correction on top, so an untrained ITNet *is* the mix.

The predictors need only seven running sums per channel (``ew``), kept in the frame of the
series' last observation, so the streaming ``step`` updates them in O(C).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "MIX_FEATURE_SETS",
    "N_EW",
    "N_HISTORY_FEATURES",
    "N_HISTORY_FEATURES_PERIODIC",
    "N_PREDICTORS_V1",
    "N_PREDICTORS_V2",
    "PREDICTORS",
    "BaselineMix",
    "ew_stats",
    "ew_step",
    "predictor_values",
]

PREDICTORS = (
    "global_mean",
    "last_value",
    "history_mean",
    "recent_mean",
    "damped_trend",
    "smooth_mean",
    "periodic",
)
N_PREDICTORS_V1 = 5  # the first mix (mix_version=1): PREDICTORS[:5]
N_PREDICTORS_V2 = 6  # the second mix without a period grid: PREDICTORS[:6]
RECENT_DECAY = 0.5  # weight of the k-th most recent observation: 0.5 ** k (about 2 points)
TREND_DECAY = 0.8  # for the trend line: 0.8 ** k (about the last 5-10 points)
MAX_TREND_STEP = 3.0  # the extrapolated trend moves at most this far (scaled units)
N_EW = 7  # ew[..., :]: recent (S0, Sy), trend (S0, S1, S2, Sy, Sty)
#: history features the mix weights may also take (``ITNetConfig.mix_version`` 2): log1p of the
#: channel's observation count and of its last value's staleness at the cutoff, then log1p of
#: how far the last value and the recent mean are from the smooth mean (level-shift signals)
N_HISTORY_FEATURES = 4
#: with the periodic predictor, a fifth: the in-sample log residual variance fraction of the
#: channel's harmonic fit (how periodic the channel's history looks)
N_HISTORY_FEATURES_PERIODIC = 5
#: the nested feature sets ``fit_start`` chooses among (number of history features used; a set
#: needing more history features than the model has is skipped)
MIX_FEATURE_SETS = {
    "lead": 0,
    "lead+history": 2,
    "lead+history+shift": 4,
    "lead+history+shift+periodic": 5,
}


def ew_stats(values: Tensor, mask: Tensor, valid: Tensor, tau: Tensor, tau_last: Tensor) -> Tensor:
    """Running sums of each channel's recent observations -> ew (B, C, 7).

    values, mask (B, N, C); valid (B, N); tau (B, N); tau_last (B,). Times enter relative to
    ``tau_last`` (so they are <= 0).
    """
    m = mask * valid[..., None].to(mask.dtype)  # (B, N, C)
    after = m.flip(1).cumsum(1).flip(1) - m  # observations of the channel after each one
    t = (tau - tau_last[:, None])[..., None] * m  # (B, N, 1 -> C), 0 where unobserved
    y = values * m

    def total(x: Tensor) -> Tensor:
        # a sequential sum in time order: right padding adds exact zeros, so the result does
        # not depend on how long the batch is padded (a tree reduction's rounding would)
        return x.cumsum(1)[:, -1]

    wr = m * torch.pow(torch.full_like(after, RECENT_DECAY), after)
    wt = m * torch.pow(torch.full_like(after, TREND_DECAY), after)
    parts = [wr, wr * y, wt, wt * t, wt * t * t, wt * y, wt * t * y]
    return torch.stack([total(x) for x in parts], dim=-1)


def ew_step(ew: Tensor, dtau: Tensor, values: Tensor, mask: Tensor) -> Tensor:
    """Fold one new time point into ``ew`` (B, C, 7): it came ``dtau`` (B,) after the last
    one; values, mask (B, C). Returns the sums in the new point's frame."""
    r0, ry, s0, s1, s2, sy, sty = ew.unbind(-1)
    d = dtau[:, None]
    # move the origin to the new point (every channel): t -> t - d
    s2 = s2 - 2 * d * s1 + d * d * s0
    s1 = s1 - d * s0
    sty = sty - d * sy
    # age the observed channels by one observation, then add the new one at t = 0
    ar = torch.where(mask > 0, RECENT_DECAY, 1.0)
    at = torch.where(mask > 0, TREND_DECAY, 1.0)
    v = values * mask
    return torch.stack(
        [r0 * ar + mask, ry * ar + v, s0 * at + mask, s1 * at, s2 * at, sy * at + v, sty * at],
        dim=-1,
    )


def predictor_values(
    has: Tensor, last: Tensor, hist_mean: Tensor, ew: Tensor, lead: Tensor, k: int | None = None
) -> Tensor:
    """The K simple forecasts of each query -> (B, Q, K).

    has (B, Q) the queried channel was observed; last, hist_mean (B, Q) its last value and
    history mean; ew (B, Q, 7) its running sums; lead (B, Q) >= 0 time after the series' last
    observation; ``k`` the first ``k`` predictors (default all).
    """
    zero = torch.zeros_like(last)
    r0, ry, s0, s1, s2, sy, sty = ew.unbind(-1)
    recent = ry / r0.clamp(min=1e-12)
    # weighted least squares y ~ a + b t over the recent observations (t <= 0)
    s0c = s0.clamp(min=1e-12)
    mt, my = s1 / s0c, sy / s0c
    var_t = (s2 / s0c - mt * mt).clamp(min=0)
    cov = sty / s0c - mt * my
    ok = var_t > 1e-9 * (1 + mt * mt)
    b = torch.where(ok, cov / torch.where(ok, var_t, 1.0), 0.0)
    a = my - b * mt  # level at t = 0 (the last observation)
    spread = var_t.sqrt()
    damped = spread * -torch.expm1(-lead / spread.clamp(min=1e-12))  # -> spread as lead grows
    step = (b * torch.where(ok, damped, 0.0)).clamp(-MAX_TREND_STEP, MAX_TREND_STEP)
    trend = torch.where(ok, a + step, recent)
    preds = [zero, last, hist_mean, recent, trend, torch.where(s0 > 0, my, recent)][:k]
    return torch.stack([torch.where(has, p, zero) for p in preds], dim=-1)


class BaselineMix(nn.Module):
    """Softmax mixture of the K predictors: logits per channel plus a linear function of the
    query's features (the lead's time features and, with ``ITNetConfig.mix_version`` 2, the
    channel's ``log1p`` observation count and staleness: with logits linear in ``log n`` the
    history mean / global mean weights can follow the Bayes shrinkage ``n / (n + k)``).

    ``logits[b, q] = chan[c] + lead(features)``; ``forward(P (B,Q,K), q_chan (B,Q),
    feat (B,Q,F)) -> (mixed (B,Q), weights (B,Q,K))``. Initialised to plain persistence
    (``last_value``); :func:`itnet_ts.estimators._fallback.fit_start` fits it to the training
    windows before the network trains.
    """

    def __init__(self, n_channels: int, n_lead_features: int, n_predictors: int = len(PREDICTORS)):
        super().__init__()
        init = torch.zeros(n_channels, n_predictors)
        init[:, PREDICTORS.index("last_value")] = 6.0  # softmax weight ~0.99 on persistence
        self.chan = nn.Parameter(init)
        self.lead = nn.Linear(n_lead_features, n_predictors)
        nn.init.zeros_(self.lead.weight)
        nn.init.zeros_(self.lead.bias)
        # which features the weights use (1) or ignore (0): chosen by ``fit_start`` among
        # nested feature sets on the validation windows
        self.register_buffer("use", torch.ones(n_lead_features))

    def weights(self, q_chan: Tensor, lead_feat: Tensor) -> Tensor:
        return torch.softmax(self.chan[q_chan] + self.lead(lead_feat * self.use), dim=-1)

    def forward(self, P: Tensor, q_chan: Tensor, lead_feat: Tensor) -> tuple[Tensor, Tensor]:
        w = self.weights(q_chan, lead_feat)
        return (w * P).sum(-1), w

    def mse_columns(self, P_t: Tensor, feat_t: Tensor, q_chan: Tensor, y: Tensor) -> Tensor:
        """The MSE of the mixed forecast over N flat targets, predictors and features stored
        predictor- / feature-major: ``P_t`` (K, N), ``feat_t`` (F, N), ``q_chan`` (N,), ``y``
        (N,). The same value as ``forward`` on the (N, K) / (N, F) layout, about 3x faster on
        a CPU for the full-batch fit of ``fit_start`` (wide matrix products, the softmax over
        K rows of length N instead of N rows of length K)."""
        z = self.chan.t()[:, q_chan] + torch.addmm(
            self.lead.bias[:, None], self.lead.weight * self.use, feat_t
        )
        e = (z - z.detach().amax(0, keepdim=True)).exp()
        return (((e * P_t).sum(0) / e.sum(0) - y) ** 2).mean()
