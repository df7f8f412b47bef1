"""A channel-agnostic ITNet for pretraining and zero-shot forecasting (issue 13).

Unlike :class:`~itnet_ts.model.itnet.ITNet`, nothing here is sized by the number of channels:

* **Unit-free time.** Every window's times are divided by the median positive gap between its
  history's time points, so hours, days or MJD give the same forecasts.
* **Unit-free values.** Every (window, channel) is standardised by its own history's mean and
  standard deviation (floored at ``value_floor`` in the caller's scaled units) and the
  forecast is mapped back: the network sees the same input whatever the channel's level or
  scale.
* **Per-channel tokens, shared weights.** Each channel is scanned by the same recurrent ITNet
  blocks over the window's time points, its own observations being the only ones with weight;
  a channel's identity is an embedding of its history statistics (count, coverage, spread,
  last value, staleness), not an index.
* **Mixed across channels.** The channels' summaries attend to each other (masked self-
  attention over the observed channels), so any number of channels, in any order, with any
  names, are read alike.
* **Decoder.** A query ``(tau_q, channel c)`` reads channel ``c``'s final scan state at its
  lead in closed form, and a head gives a gate on the channel's last value (a shrunk
  persistence toward its history mean) plus a correction, and quantile gaps.

Outputs follow ``itnet_ts.model.quantiles``: ``forward`` returns raw outputs whose
``monotone_quantiles`` at :attr:`levels` are the forecast quantiles (a single output, the
median, when no levels are selected), in the caller's scaled units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn

from itnet_ts.data._windows import Batch
from itnet_ts.model.layers import FourierFeatures, RecurrentBlock
from itnet_ts.model.quantiles import monotone_quantiles

__all__ = ["UniversalConfig", "UniversalITNet", "count_parameters", "quantiles_to_raw"]

#: History statistics a channel's identity embedding is made from.
N_STATS = 8


@dataclass
class UniversalConfig:
    """Hyperparameters of :class:`UniversalITNet`.

    d_model: width D; n_layers: recurrent blocks of the per-channel encoder; rank: R;
    n_heads: heads of the cross-channel attention; n_fourier: frequencies of the time features;
    timescale_min / timescale_max: initial decay time scales, in median gaps; oscillatory:
    oscillatory poles; quantiles: the levels the network was trained for (0.5 among them);
    value_floor: floor of a channel's history standard deviation (scaled units); dropout.
    n_outputs: outputs ``forward`` gives now (set by ``select_levels``; not a hyperparameter).
    """

    d_model: int = 64
    n_layers: int = 2
    rank: int = 16
    n_heads: int = 4
    n_fourier: int = 8
    timescale_min: float = 0.5
    timescale_max: float = 500.0
    oscillatory: bool = True
    quantiles: tuple[float, ...] = (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975)
    value_floor: float = 0.1
    dropout: float = 0.0
    n_outputs: int = 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["quantiles"] = list(self.quantiles)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> UniversalConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown UniversalConfig fields: {sorted(unknown)}")
        d = dict(d)
        if "quantiles" in d:
            d["quantiles"] = tuple(float(q) for q in d["quantiles"])
        return cls(**d)


class UniversalITNet(nn.Module):
    """Channel-agnostic ITNet: ``forward(batch) -> (B, Q, n_outputs)`` in scaled units."""

    def __init__(self, cfg: UniversalConfig):
        super().__init__()
        if 0.5 not in cfg.quantiles:
            raise ValueError(f"quantiles must include 0.5, got {cfg.quantiles}")
        self.cfg = cfg
        D = cfg.d_model
        self.time_feat = FourierFeatures(cfg.n_fourier, cfg.timescale_min, cfg.timescale_max)
        F_t = self.time_feat.out_dim
        self.embed = nn.Sequential(nn.Linear(4 + F_t, D), nn.GELU(), nn.Linear(D, D))
        self.chan_stats = nn.Sequential(nn.Linear(N_STATS, D), nn.GELU(), nn.Linear(D, D))
        self.adapter = nn.Linear(N_STATS, D)  # the channel adapter (fine-tuned with the head)
        nn.init.zeros_(self.adapter.weight)
        nn.init.zeros_(self.adapter.bias)
        self.blocks = nn.ModuleList(
            RecurrentBlock(D, 2, cfg.dropout, rank=cfg.rank, hidden=D,
                           timescale_min=cfg.timescale_min, timescale_max=cfg.timescale_max,
                           oscillatory=cfg.oscillatory)
            for _ in range(cfg.n_layers)
        )  # fmt: skip
        self.mix_norm = nn.LayerNorm(D)
        self.mix = nn.MultiheadAttention(D, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.mix_ffn = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 2 * D), nn.GELU(),
                                     nn.Linear(2 * D, D))  # fmt: skip
        self.query_mlp = nn.Sequential(nn.Linear(2 * F_t + 3, D), nn.GELU(), nn.Linear(D, D))
        self.query_factor = nn.Linear(D, cfg.rank)
        self.read_norm = nn.LayerNorm(D)
        K = len(cfg.quantiles)
        # outputs: gate logit on the last value, median correction, K - 1 quantile gaps
        self.head = nn.Sequential(nn.Linear(2 * D, D), nn.GELU(), nn.Linear(D, K + 1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.levels: tuple[float, ...] = ()
        self.select_levels(())

    # ---- outputs -------------------------------------------------------------------------
    def select_levels(self, levels) -> UniversalITNet:
        """Give raw outputs for the quantile ``levels`` (a subset of ``cfg.quantiles`` with
        0.5; ``()``: the median alone, one output) from now on."""
        levels = tuple(float(q) for q in levels)
        missing = [q for q in levels if not any(abs(q - p) < 1e-9 for p in self.cfg.quantiles)]
        if missing or (levels and 0.5 not in levels):
            raise ValueError(
                f"this pretrained network gives the quantiles {list(self.cfg.quantiles)}; "
                f"asked for {list(levels)}"
            )
        self.levels = levels
        self.cfg.n_outputs = max(1, len(levels))
        return self

    def head_parameters(self) -> list[nn.Parameter]:
        """The parameters ``finetune="head"`` trains: the head and the channel adapter."""
        return [*self.head.parameters(), *self.adapter.parameters()]

    # ---- normalisation -------------------------------------------------------------------
    def _frames(self, batch: Batch):
        """Unit-free time and values of each window (see the module docstring).

        -> gap (B,), loc (B, C), scale (B, C), x (B, N, C) standardised values (0 where not
        observed), obs (B, N, C) observed-and-valid mask."""
        valid = batch.valid.to(batch.values.dtype)  # (B, N)
        obs = batch.mask * valid[..., None]
        dt = torch.where((batch.dtau > 0) & batch.valid, batch.dtau, torch.nan)
        gap = torch.nanmedian(dt, dim=1).values  # (B,)
        span = (batch.tau * valid).amin(1).neg()
        gap = torch.where(torch.isfinite(gap) & (gap > 0), gap, torch.clamp(span, min=0) + 1.0)
        cnt = obs.sum(1)  # (B, C)
        loc = (batch.values * obs).sum(1) / cnt.clamp(min=1)
        var = (((batch.values - loc[:, None]) * obs) ** 2).sum(1) / cnt.clamp(min=1)
        floor = self.cfg.value_floor
        scale = torch.where(cnt > 0, torch.sqrt(var + floor**2), torch.ones_like(var))
        x = ((batch.values - loc[:, None]) / scale[:, None]).clamp(-50, 50) * obs
        return gap, loc, scale, x, obs

    # ---- encoder -------------------------------------------------------------------------
    def _channel_stats(self, x, obs, tau, valid, cnt, scale):
        """(B, C, N_STATS) history statistics of each channel, and its last value (B, C) and
        the time it was last seen (B, C; -inf if never), in unit-free time ``tau`` (B, N)."""
        N = x.shape[1]
        pos = torch.arange(1, N + 1, device=x.device, dtype=x.dtype)
        last_idx = (obs * pos[None, :, None]).amax(1).long() - 1  # (B, C), -1 if never
        has = last_idx >= 0
        li = last_idx.clamp(min=0)
        last = torch.where(has, x.gather(1, li[:, None])[:, 0], 0.0)
        last_tau = torch.where(has, tau.gather(1, li), -torch.inf)
        n_valid = valid.sum(1, keepdim=True).clamp(min=1)  # (B, 1)
        tau_end = (tau * valid).amax(1, keepdim=True) if N else tau[:, :1]
        stale = torch.where(has, torch.log1p((tau_end - torch.where(has, last_tau, 0)).abs()), 0)
        # the mean of the last few observations relative to the history mean
        recent = torch.where(obs > 0, pos[None, :, None], 0.0).argsort(1, descending=True)[:, :3]
        rec_v = x.gather(1, recent)  # (B, 3, C)
        rec_m = obs.gather(1, recent)
        rec = (rec_v * rec_m).sum(1) / rec_m.sum(1).clamp(min=1)
        stats = [torch.log1p(cnt), cnt / n_valid, torch.log(scale), last, has.to(x.dtype), stale,
                 rec, torch.log1p(n_valid).expand_as(cnt)]  # fmt: skip
        return torch.stack(stats, -1), last, last_tau

    def _encode(self, x, obs, tau, dtau, stats, n_last):
        """Scan every channel with the shared blocks -> states (B, C, S, D, R), each channel's
        token at the window's last point ``n_last`` (B,) -> (B, C, D), identity (B, C, D).

        A channel's scan runs over its own observations and the window's last point only
        (:func:`_packed_positions`): its other time points carry no weight, so they only
        decay the state, and one decay over the skipped gaps is the same decay; the token at
        the last point depends on nothing else. Channels are scanned in groups of similar
        observation counts (``SCAN_GROUPS``), each padded to its own longest, so sparse
        channels cost what they hold, not the window's length."""
        B, N, C = x.shape
        last_seen = torch.where(obs > 0, tau[..., None], -torch.inf)
        last_seen = torch.cummax(last_seen, dim=1).values  # (B, N, C)
        seen = torch.isfinite(last_seen)
        age = torch.log1p(torch.where(seen, tau[..., None] - torch.where(seen, last_seen, 0), 0))
        tf = self.time_feat(dtau)[:, :, None].expand(-1, -1, C, -1)  # (B, N, C, F)
        feats = torch.cat([x[..., None], obs[..., None], age[..., None],
                           seen.to(x.dtype)[..., None], tf], -1)  # fmt: skip
        ident = self.chan_stats(stats) + self.adapter(stats)  # (B, C, D)
        flat = lambda t: t.transpose(1, 2).reshape(B * C, N, *t.shape[3:])  # noqa: E731
        if PACKED_SCANS:
            clock = torch.cumsum(dtau, 1)[:, None].expand(-1, C, -1).reshape(B * C, N)
            ident_s, n_last_s = ident.reshape(B * C, -1), n_last.repeat_interleave(C)
            states, tokens = self._scan_packed(flat(feats), flat(obs), clock, n_last_s, ident_s)
        else:  # the reference: every channel over every time point of the window
            h = self.embed(flat(feats)) + ident.reshape(B * C, 1, -1)
            dt = dtau[:, None].expand(-1, C, -1).reshape(B * C, N)
            for block in self.blocks:
                h, states = block(h, dt, flat(obs))
            tokens = h.reshape(B, C, N, -1)[torch.arange(B), :, n_last]
        return states.reshape(B, C, *states.shape[1:]), tokens.reshape(B, C, -1), ident

    def _scan_packed(self, feats, w, clock, n_last, ident):
        """feats (S, N, F), w (S, N), clock (S, N) cumulative time, n_last (S,), ident (S, D)
        of S = B C channel sequences -> final states (S, St, D, R), last tokens (S, D)."""
        S = w.shape[0]
        keep = w > 0
        keep[torch.arange(S, device=w.device), n_last] = True
        states = tokens = None
        for rows, idx, real in _packed_positions(keep, SCAN_GROUPS):
            f = feats[rows].gather(1, idx[..., None].expand(-1, -1, feats.shape[-1]))
            h = self.embed(f) + ident[rows][:, None]
            t = clock[rows].gather(1, idx)
            dt = torch.diff(t, dim=1, prepend=t[:, :1]) * real  # padding: no decay, no weight
            wk = w[rows].gather(1, idx) * real
            for block in self.blocks:
                h, state = block(h, dt, wk)
            tok = h[torch.arange(len(rows), device=h.device), real.sum(1).long() - 1]
            if states is None:
                states = state.new_zeros(S, *state.shape[1:])
                tokens = tok.new_zeros(S, tok.shape[-1])
            states[rows], tokens[rows] = state, tok
        return states, tokens

    def _mix(self, z: Tensor, has: Tensor) -> Tensor:
        """Masked self-attention over the observed channels: z (B, C, D) -> (B, C, D)."""
        pad = ~has
        pad = torch.where(pad.all(1, keepdim=True), torch.zeros_like(pad), pad)
        y = self.mix_norm(z)
        a, _ = self.mix(y, y, y, key_padding_mask=pad, need_weights=False)
        z = z + a
        return z + self.mix_ffn(z)

    # ---- forward -------------------------------------------------------------------------
    def forward(self, batch: Batch) -> Tensor:
        """Raw outputs (B, Q, n_outputs) in scaled units (see the module docstring)."""
        gap, loc, scale, x, obs = self._frames(batch)
        valid = batch.valid.to(x.dtype)
        tau = batch.tau / gap[:, None] * valid  # (B, N) unit-free, <= 0
        dtau = batch.dtau / gap[:, None] * valid
        cnt = obs.sum(1)
        stats, last, last_tau = self._channel_stats(x, obs, tau, valid, cnt, scale)
        n_last = (valid.sum(1).long() - 1).clamp(min=0)  # (B,) the window's last point
        states, tokens, ident = self._encode(x, obs, tau, dtau, stats, n_last)
        z = tokens + ident  # (B, C, D) the last token of each channel
        z = self._mix(z, cnt > 0)
        return self._decode(batch, gap, tau, states, z, last, last_tau, loc, scale)

    def _decode(self, batch, gap, tau, states, z, last, last_tau, loc, scale) -> Tensor:
        """Queries (B, Q) -> raw outputs (B, Q, n_outputs)."""
        q_chan = batch.q_chan
        B, Q = q_chan.shape
        q_tau = batch.q_tau / gap[:, None]
        tau_end = tau.amax(1, keepdim=True)  # the last valid point (tau <= 0, padding 0)
        tau_end = torch.where(batch.valid.any(1, keepdim=True), tau_end, q_tau.new_zeros(B, 1))
        lead = (q_tau - tau_end).clamp(min=0)  # (B, Q)
        g = lambda t: t.gather(1, q_chan)  # noqa: E731  (B, C) -> (B, Q)
        lt = g(last_tau)
        has = torch.isfinite(lt)
        age = torch.where(has, q_tau - torch.where(has, lt, 0), 0).clamp(min=0)
        x_last = g(last)
        qf = torch.cat([self.time_feat(lead), self.time_feat(age), x_last[..., None],
                        has.to(x_last.dtype)[..., None], torch.log1p(lead)[..., None]], -1)  # fmt: skip
        zq = z.gather(1, q_chan[..., None].expand(-1, -1, z.shape[-1]))  # (B, Q, D)
        qe = self.query_mlp(qf) + zq
        st = states.gather(1, q_chan.view(B, Q, 1, 1, 1).expand(-1, -1, *states.shape[2:]))
        st = st.reshape(B * Q, *states.shape[2:])  # (B Q, S, D, R)
        Cq = self.query_factor(qe).reshape(B * Q, 1, -1)
        read = self.blocks[-1].transform.read(st, lead.reshape(B * Q, 1), Cq).reshape(B, Q, -1)
        out = self.head(torch.cat([self.read_norm(read), qe], -1))  # (B, Q, K + 1)
        gate = torch.sigmoid(out[..., 0] + 2.0)
        med = gate * x_last + out[..., 1]  # standardised units
        qs = monotone_quantiles(torch.cat([med[..., None], med[..., None] + out[..., 2:]], -1),
                                self.cfg.quantiles)  # fmt: skip
        qs = g(loc)[..., None] + g(scale)[..., None] * qs  # (B, Q, K) scaled units
        if not self.levels:
            k = self.cfg.quantiles.index(0.5)
            return qs[..., k : k + 1]
        idx = [self.cfg.quantiles.index(q) for q in self.levels]
        return quantiles_to_raw(qs[..., idx], self.levels)


#: Groups of channels (by observation count) a window's per-channel scans run in.
SCAN_GROUPS = 8
#: Scan each channel over its own observations only (False: over every time point of the
#: window, the reference the packed scans are tested against; same forecasts, slower).
PACKED_SCANS = True


def _packed_positions(keep: Tensor, n_groups: int):
    """Yield ``(rows, idx, real)`` per group of the sequences of ``keep`` (S, N) bool (each
    row with at least one True): ``rows`` (G,) the sequences of the group (similar counts of
    True), ``idx`` (G, L) their kept positions in order, padded with the last kept one, and
    ``real`` (G, L) 1.0 on kept positions, 0.0 on padding; L = the group's largest count."""
    S, N = keep.shape
    count = keep.sum(1)
    order = torch.argsort(count, stable=True)
    pos = torch.arange(N, device=keep.device)
    # kept positions first, in time order: sort a key that puts the others after them
    ranked = torch.argsort(torch.where(keep, pos, pos + N), dim=1)
    for rows in torch.tensor_split(order, min(n_groups, S)):
        if len(rows) == 0:
            continue
        c = count[rows]
        L = int(c.max())
        j = torch.minimum(torch.arange(L, device=keep.device)[None, :], (c - 1)[:, None])
        idx = ranked[rows].gather(1, j)
        real = (torch.arange(L, device=keep.device)[None, :] < c[:, None]).to(torch.float32)
        yield rows, idx, real


def quantiles_to_raw(q: Tensor, levels, min_gap: float = 1e-6) -> Tensor:
    """Ordered quantiles ``q (..., K)`` at ``levels`` -> raw outputs whose
    ``monotone_quantiles(raw, levels)`` gives them back (gaps below ``min_gap`` become it)."""
    lv = torch.as_tensor(list(levels), dtype=torch.float64)
    n_below = int((lv < 0.5).sum())
    z = torch.special.ndtri(lv)
    prior = torch.cat(
        [(z[1 : n_below + 1] - z[:n_below]).flip(0), z[n_below + 1 :] - z[n_below:-1]]
    )
    offset = (prior + torch.log(-torch.expm1(-prior))).to(q)  # (K - 1,)
    med = q[..., n_below : n_below + 1]
    down = q[..., :n_below].flip(-1)  # nearest first
    gaps_down = torch.diff(torch.cat([med, down], -1), dim=-1).neg()
    gaps_up = torch.diff(q[..., n_below:], dim=-1)
    gaps = torch.cat([gaps_down, gaps_up], -1).clamp(min=min_gap)  # (..., K - 1)
    inv = gaps + torch.log(-torch.expm1(-gaps))  # softplus^-1
    return torch.cat([med, med + inv - offset], -1)


def count_parameters(params) -> int:
    """Number of scalars in ``params``."""
    return int(sum(p.numel() for p in params))
