"""ITNet: a learnable integral transform for irregularly sampled multichannel series.

Encoder: each time point (all channels observed at one timestamp) is embedded from its
values, masks, per-channel ages and the elapsed time since the previous point; a stack of
recurrent-mode ITNet blocks integrates the sequence (a continuous-time linear recurrence over
the observations). Decoder: a query ``(tau_q, channel c)`` evaluates the last block's transform
at ``tau_q`` in closed form from its final state, and a head predicts a correction to the
channel's last observed value (persistence is the starting point, not a competitor).

The encoder sees only time *differences*, so its states do not depend on the cutoff and a new
observation updates them in O(R D) (``step``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from itnet_ts.data._windows import Batch
from itnet_ts.model.baselines import (
    N_EW,
    N_HISTORY_FEATURES,
    N_HISTORY_FEATURES_PERIODIC,
    N_PREDICTORS_V1,
    N_PREDICTORS_V2,
    PREDICTORS,
    BaselineMix,
    ew_stats,
    ew_step,
    predictor_values,
)
from itnet_ts.model.config import ITNetConfig
from itnet_ts.model.layers import AttentionTransform, FourierFeatures, RecurrentBlock
from itnet_ts.model.monte_carlo import mc_points, mc_subsample
from itnet_ts.model.periodic import harmonic_predict, harmonic_stats, harmonic_step

__all__ = ["EncoderState", "ITNet"]


@dataclass
class EncoderState:
    """Everything the decoder needs about a history, updatable one observation at a time.

    states: per block (B, S, D, R); tau_last (B,) time of the last observation (cutoff frame);
    last_seen (B, C) time each channel was last observed (-inf if never); last_value (B, C)
    scaled; value_sum (B, C) and count (B, C) for the per-channel history mean.
    With an attention decoder also the memory it attends to: ``memory`` (B, N, D) the last
    block's output tokens, ``memory_tau`` (B, N) their times, ``memory_valid`` (B, N) 0 on
    padding (None otherwise). With static covariates ``static`` (B, n_static), carried along
    so that ``step`` and ``decode`` need not be given them again; with known-future
    covariates ``last_futr`` (B, C, n_futr), their values when each channel was last observed
    (0 if never), so a query sees how they changed since its persistence base. With the
    "mix" start, ``ew`` (B, C, 7): running sums of each channel's recent observations
    (``itnet_ts.model.baselines``); with a period grid (``ITNetConfig.period_grid``) followed by
    the harmonic fit's normal equations, (B, C, 7 + ``itnet_ts.model.periodic.N_STATS``).
    """

    states: list[Tensor]
    tau_last: Tensor
    last_seen: Tensor
    last_value: Tensor
    value_sum: Tensor
    count: Tensor
    memory: Tensor | None = None
    memory_tau: Tensor | None = None
    memory_valid: Tensor | None = None
    static: Tensor | None = None
    last_futr: Tensor | None = None
    ew: Tensor | None = None


class ITNet(nn.Module):
    """The forecasting network. ``forward(batch) -> (B, Q, n_outputs)`` in scaled units."""

    def __init__(self, cfg: ITNetConfig):
        super().__init__()
        _check_config(cfg)
        self.cfg = cfg
        # built in this order: the parameters' random initialisation follows it
        self._build_encoder(cfg)
        self._build_start(cfg)
        self._build_decoder(cfg)
        # per channel: 0 = the network, k > 0 = simple predictor PREDICTORS[k] instead (set by
        # the estimator when that predictor beat the trained network on validation)
        self.register_buffer("fallback", torch.zeros(cfg.n_channels, dtype=torch.long))

    def _build_encoder(self, cfg: ITNetConfig) -> None:
        """The point embedding, the static covariates' embeddings, the recurrent blocks, the
        read's LayerNorm and the channel embedding."""
        C, D = cfg.n_channels, cfg.d_model
        self.time_feat = FourierFeatures(cfg.n_fourier, cfg.timescale_min, cfg.timescale_max)
        self.embed = nn.Sequential(
            nn.Linear(4 * C + self.time_feat.out_dim + cfg.n_futr, D), nn.GELU(), nn.Linear(D, D)
        )
        # static covariates: one embedding added to the tokens, one to the queries
        self.static_tok = nn.Linear(cfg.n_static, D) if cfg.n_static else None
        self.static_query = nn.Linear(cfg.n_static, D) if cfg.n_static else None
        self.blocks = nn.ModuleList(
            RecurrentBlock(
                D,
                cfg.ffn_mult,
                cfg.dropout,
                rank=cfg.rank,
                hidden=cfg.kernel_hidden,
                timescale_min=cfg.timescale_min,
                timescale_max=cfg.timescale_max,
                oscillatory=cfg.oscillatory,
                selective=cfg.selective,
                kwn=cfg.kwn,
                mode=cfg.encoder_mode,
                integral_norm=cfg.integral_norm,
            )
            for _ in range(cfg.n_layers)
        )
        # the LayerNorm on the decoder's read of the integral (off: integral_norm=False)
        self.norm_out = nn.LayerNorm(D) if cfg.integral_norm else nn.Identity()
        self.channel_emb = nn.Embedding(C, D)

    def _build_start(self, cfg: ITNetConfig) -> None:
        """The forecast's starting point: the simple predictors and, with ``start="mix"``, the
        learned mix of them (:class:`~itnet_ts.model.baselines.BaselineMix`)."""
        v2 = cfg.mix_version == 2
        self.period_grid = cfg.period_grid
        periodic = self.period_grid is not None
        self.n_predictors = (
            N_PREDICTORS_V1 if not v2 else len(PREDICTORS) if periodic else N_PREDICTORS_V2
        )
        #: history features the mix weights see after the lead's time features
        self.n_history_features = (
            0 if not v2 else N_HISTORY_FEATURES_PERIODIC if periodic else N_HISTORY_FEATURES
        )
        n_mix = self.time_feat.out_dim + self.n_history_features
        C = cfg.n_channels
        self.mix = BaselineMix(C, n_mix, self.n_predictors) if cfg.start == "mix" else None

    def _build_decoder(self, cfg: ITNetConfig) -> None:
        """The query features' MLP, the read of the transform (and the attention decoder's
        parts), and the head, zero-initialised so that the network starts at the start."""
        D = cfg.d_model
        # query features: lead time (Fourier), age of the channel's last value, its value, flags
        # (+ the query time from the cutoff) (+ known-future covariates at the query time)
        n_time = 3 if cfg.query_cutoff_time else 2
        # + the predictors after the first three (recent, trend[, smooth]), mix, mix - last
        n_base = 4 + (self.n_predictors - 3 + 2 if self.mix is not None else 0)
        self.query_mlp = nn.Sequential(
            nn.Linear(n_time * self.time_feat.out_dim + n_base + 2 * cfg.n_futr, D),
            nn.GELU(),
            nn.Linear(D, D),
        )
        self.query_factor = nn.Linear(D, cfg.rank)
        self.read_norm = nn.LayerNorm(D)
        if cfg.decoder != "recurrent":
            self.mem_time = nn.Linear(self.time_feat.out_dim, D)  # key time features
            self.attn = AttentionTransform(D, cfg.attn_lag_hidden)
            self.attn_norm = nn.LayerNorm(D) if cfg.integral_norm else nn.Identity()
        self.head = nn.Sequential(
            nn.Linear(3 * D, D), nn.GELU(), nn.Linear(D, D), nn.GELU(), nn.Linear(D, cfg.n_outputs)
        )
        nn.init.zeros_(self.head[-1].weight)  # start exactly at the baseline (mix)
        nn.init.zeros_(self.head[-1].bias)

    # ---- encoder -------------------------------------------------------------------------
    @property
    def encoder_mode(self) -> str:
        """How the encoder's transforms are evaluated now (see ``set_encoder_mode``)."""
        return self.blocks[0].transform.mode

    def set_encoder_mode(self, mode: str) -> ITNet:
        """Evaluate the encoder in ``mode`` ("recurrent", "attention", "conv") from now on,
        with the same parameters: "recurrent" and "attention" give the same forecasts (up to
        rounding); "conv" only for models built with ``encoder_mode="conv"`` (a ValueError
        says so otherwise). The saved config keeps the mode the model was built with."""
        for block in self.blocks:
            block.transform.set_mode(mode)
        return self

    def _weights(self, dtau: Tensor, valid: Tensor) -> Tensor:
        """Importance weights (B, N): 0 on padding."""
        if self.cfg.weights == "uniform":
            return valid.to(dtau.dtype)
        if self.cfg.weights == "gap":
            w = dtau.clamp(max=self.cfg.gap_cap)
            w = torch.cat([torch.ones_like(w[:, :1]), w[:, 1:]], dim=1)  # first point: 1 unit
            return w * valid
        raise ValueError(f"weights must be 'uniform' or 'gap', got {self.cfg.weights!r}")

    def _tokens(self, values, mask, age, seen, dtau, futr=None, static=None) -> Tensor:
        """Point features (B, N, 4C + F [+ n_futr]) -> embeddings (B, N, D) (+ the static
        covariates' embedding, static (B, n_static))."""
        parts = [values * mask, mask, age, seen, self.time_feat(dtau)]
        if self.cfg.n_futr:
            parts.append(_required(futr, "futr", self.cfg.n_futr))
        h = self.embed(torch.cat(parts, dim=-1))
        if self.static_tok is not None:
            h = h + self.static_tok(_required(static, "static", self.cfg.n_static))[:, None]
        return h

    def encode(self, batch: Batch) -> EncoderState:
        """Run the encoder over the (right-padded) history of ``batch``."""
        dtau = batch.dtau * batch.valid  # padding: dtau = 0 and w = 0 leave states unchanged
        w = self._weights(dtau, batch.valid)
        h = self._tokens(
            batch.values, batch.mask, batch.age, batch.seen, dtau, batch.futr, batch.static
        )  # (B, N, D)
        tau, valid = batch.tau, batch.valid
        if self.training and self.cfg.integration == "monte_carlo":
            h, tau, dtau, w, valid = self._mc_sample(h, tau, w, valid)
        states = []
        for block in self.blocks:
            h, s = block(h, dtau, w)
            states.append(s)
        st = self._summary(batch, states)
        if self.cfg.decoder != "recurrent":
            st.memory, st.memory_tau = h, tau * valid
            st.memory_valid = valid.to(h.dtype)
        return st

    def _mc_sample(self, h: Tensor, tau: Tensor, w: Tensor, valid: Tensor):
        """Monte Carlo integration (``itnet_ts.model.monte_carlo``): M(N) of the N tokens,
        weights divided by their inclusion probability; elapsed times between kept tokens."""
        m = mc_points(valid.sum(1), self.cfg.mc_min_points, self.cfg.mc_factor)
        idx, keep, inv_pi = mc_subsample(valid, m)
        h = h.gather(1, idx[..., None].expand(-1, -1, h.shape[-1])) * keep[..., None]
        tau = tau.gather(1, idx) * keep
        dtau = torch.diff(tau, dim=1, prepend=tau[:, :1]).clamp(min=0) * keep
        w = w.gather(1, idx) * inv_pi.to(w.dtype)
        return h, tau, dtau, w, keep

    def _summary(self, batch: Batch, states: list[Tensor]) -> EncoderState:
        """The per-channel history summaries of ``batch`` (everything but the memory)."""
        n_valid = batch.valid.sum(1)
        last = (n_valid - 1).clamp(min=0)
        tau_last = batch.tau.gather(1, last[:, None])[:, 0] * (n_valid > 0)
        last_seen = torch.where(
            batch.has_last > 0, batch.last_tau, torch.full_like(batch.last_tau, -torch.inf)
        )
        count = (batch.mask * batch.valid[..., None]).sum(1)  # (B, C)
        value_sum = (batch.values * batch.mask).sum(1)
        st = EncoderState(states, tau_last, last_seen, batch.last_value, value_sum, count)
        st.static = batch.static if self.cfg.n_static else None
        if self.mix is not None:
            st.ew = ew_stats(batch.values, batch.mask, batch.valid, batch.tau, tau_last)
            if self.period_grid is not None:
                harm = harmonic_stats(
                    batch.values, batch.mask, batch.valid, batch.tau, tau_last, self.period_grid
                )
                st.ew = torch.cat([st.ew, harm], dim=-1)
        if self.cfg.n_futr:  # futr at each channel's last observation (B, C, n_futr)
            N = batch.mask.shape[1]
            pos = torch.arange(1, N + 1, device=batch.mask.device, dtype=batch.mask.dtype)
            seen_at = batch.mask * batch.valid[..., None] * pos[:, None]  # (B, N, C)
            last_idx = (seen_at.max(1).values - 1).long()  # (B, C), -1 if never observed
            futr = _required(batch.futr, "futr", self.cfg.n_futr)
            got = futr.gather(1, last_idx.clamp(min=0)[..., None].expand(-1, -1, futr.shape[-1]))
            st.last_futr = got * (last_idx >= 0)[..., None]
        return st

    @torch.no_grad()
    def step(
        self,
        st: EncoderState,
        tau: Tensor,
        values: Tensor,
        mask: Tensor,
        futr: Tensor | None = None,
    ) -> EncoderState:
        """Fold one new time point into the state without re-encoding: O(L R D) per series.

        tau (B,) its time (same frame as ``st.tau_last``, >= it); values, mask (B, C) scaled;
        futr (B, n_futr) the known-future covariates at that time (models with ``n_futr``).
        """
        dtau = (tau - st.tau_last)[:, None]  # (B, 1)
        last_seen = torch.where(mask > 0, tau[:, None], st.last_seen)
        ever = torch.isfinite(last_seen)
        age = torch.log1p(torch.where(ever, tau[:, None] - torch.where(ever, last_seen, 0), 0))
        h = self._tokens(
            values[:, None],
            mask[:, None],
            age[:, None],
            ever[:, None].to(age.dtype),
            dtau,
            None if futr is None else futr[:, None],
            st.static,
        )
        valid = torch.ones_like(dtau, dtype=torch.bool)
        w = self._weights(dtau, valid)
        if self.cfg.weights == "gap":  # only the very first point of a series gets weight 1
            w = torch.where(torch.isfinite(st.last_seen).any(1, keepdim=True), dtau, w)
            w = w.clamp(max=self.cfg.gap_cap)
        states = []
        for block, s0 in zip(self.blocks, st.states, strict=True):
            h, s = block(h, dtau, w, s0)
            states.append(s)
        new = EncoderState(
            states,
            tau,
            last_seen,
            torch.where(mask > 0, values, st.last_value),
            st.value_sum + values * mask,
            st.count + mask,
        )
        new.static = st.static
        if st.ew is not None:
            new.ew = ew_step(st.ew[..., :N_EW], dtau[:, 0], values, mask)
            if self.period_grid is not None:
                harm = harmonic_step(st.ew[..., N_EW:], dtau[:, 0], values, mask)
                new.ew = torch.cat([new.ew, harm], dim=-1)
        if self.cfg.n_futr:
            new.last_futr = torch.where(mask[..., None] > 0, futr[:, None, :], st.last_futr)
        if st.memory is not None:  # attention decoder: append the new token to the memory
            new.memory = torch.cat([st.memory, h], dim=1)
            new.memory_tau = torch.cat([st.memory_tau, tau[:, None]], dim=1)
            new.memory_valid = torch.cat([st.memory_valid, torch.ones_like(tau[:, None])], dim=1)
        return new

    # ---- decoder -------------------------------------------------------------------------
    def decode(
        self, st: EncoderState, q_tau: Tensor, q_chan: Tensor, q_futr: Tensor | None = None
    ) -> Tensor:
        """Forecast queries at ``q_tau`` (B, Q) of channels ``q_chan`` (B, Q) -> (B, Q, n_out);
        ``q_futr`` (B, Q, n_futr): known-future covariates at the queries (models with
        ``n_futr``)."""
        gather = lambda x: x.gather(1, q_chan)  # noqa: E731  (B, C) -> (B, Q)
        has, last, mean, age, lead, lead_feat, P, mix_feat = self._query_simple(st, q_tau, q_chan)
        base = last  # the start: persistence, or the mix below
        feats = [lead_feat, self.time_feat(age)]
        if self.cfg.query_cutoff_time:
            feats.append(self.time_feat(q_tau))
        if self.cfg.n_futr:  # the covariates at the query, and their change since the base
            q_futr = _required(q_futr, "q_futr", self.cfg.n_futr)
            idx = q_chan[..., None].expand(-1, -1, q_futr.shape[-1])  # (B, Q, n_futr)
            feats += [q_futr, q_futr - st.last_futr.gather(1, idx)]
        simple = [base[..., None], has[..., None].to(base.dtype), mean[..., None]]
        simple.append(torch.log1p(gather(st.count))[..., None])
        if self.mix is not None:  # the forecast starts from the learned mix of predictors
            mixed, _ = self.mix(P, q_chan, mix_feat)
            simple += [P[..., 3:], mixed[..., None], (mixed - base)[..., None]]
            base = mixed
        qf = torch.cat([*feats, *simple], dim=-1)
        qe = self.query_mlp(qf) + self.channel_emb(q_chan)  # (B, Q, D)
        if self.static_query is not None:
            qe = qe + self.static_query(_required(st.static, "static", self.cfg.n_static))[:, None]
        ctx = torch.zeros_like(qe)  # (B, Q, D)
        if self.cfg.decoder in ("recurrent", "both"):
            read = self.blocks[-1].transform.read(st.states[-1], lead, self.query_factor(qe))
            ctx = ctx + self.norm_out(read)
        if self.cfg.decoder in ("attention", "both"):
            ctx = ctx + self.attn_norm(self._attend(st, q_tau, qe))
        out = base[..., None] + self.head(torch.cat([ctx, qe, ctx * qe], dim=-1))  # (B,Q,n_out)
        # channels where a simple predictor beat the network (fallback > 0) get it instead;
        # elementwise, with no host sync on the (all-zero while training) codes
        fb = self.fallback[q_chan]  # (B, Q)
        simple_pred = torch.stack([torch.zeros_like(mean), last, mean], -1)  # by fallback code
        chosen = torch.where(has, simple_pred.gather(-1, fb.clamp(max=2)[..., None])[..., 0], 0.0)
        return out + torch.where(fb > 0, chosen - out[..., 0], 0.0)[..., None]

    def _query_simple(self, st: EncoderState, q_tau: Tensor, q_chan: Tensor):
        """Per query (B, Q): has (channel observed), last value (0 if not), history mean,
        age of the last value, lead after the last observation, the lead's time features
        (B, Q, F) and, with the "mix" start, the simple predictors P (B, Q, K) and the
        features the mix weights depend on (B, Q, F [+ 4]) (else None, None): the lead's time
        features and, with ``mix_version`` 2, how much history the channel has (``log1p`` of its
        observation count) and how stale its last value was at the cutoff (``log1p`` of the
        channel's age minus the lead), so the weights can follow how reliable each predictor
        is (e.g. the history mean shrunk towards the global mean when there are few points)."""
        gather = lambda x: x.gather(1, q_chan)  # noqa: E731  (B, C) -> (B, Q)
        has = torch.isfinite(gather(st.last_seen))
        last = torch.where(has, gather(st.last_value), 0.0)  # persistence, 0 = channel mean
        age = torch.where(has, q_tau - torch.where(has, gather(st.last_seen), 0.0), 0.0)
        mean = gather(st.value_sum) / gather(st.count).clamp(min=1)
        lead = (q_tau - st.tau_last[:, None]).clamp(min=0)  # time since the last observation
        lead_feat = self.time_feat(lead)
        P, mix_feat = None, None
        if self.mix is not None:
            ew = st.ew[..., :N_EW]
            ew = ew.gather(1, q_chan[..., None].expand(-1, -1, N_EW))
            P = predictor_values(
                has, last, torch.where(has, mean, 0.0), ew, lead, min(self.n_predictors, 6)
            )
            quality = None
            if self.period_grid is not None:  # the harmonic fit, else the smooth mean
                per, ok, quality = harmonic_predict(st.ew[..., N_EW:], q_chan, lead)
                smooth = P[..., PREDICTORS.index("smooth_mean")]
                P = torch.cat([P, torch.where(ok & has, per, smooth)[..., None]], dim=-1)
            mix_feat = lead_feat
            if self.cfg.mix_version >= 2:
                n_obs = torch.log1p(gather(st.count))
                stale = torch.log1p((age - lead).clamp(min=0))
                # how far the last value and the recent mean have moved from the smooth mean:
                # large after a level shift (trust the recent points), small in noise
                smooth = P[..., PREDICTORS.index("smooth_mean")]
                jump_last = torch.log1p((P[..., 1] - smooth).abs())
                jump_recent = torch.log1p((P[..., 3] - smooth).abs())
                extra = [n_obs, stale, jump_last, jump_recent]
                if quality is not None:
                    extra.append(quality)
                mix_feat = torch.cat([lead_feat, *(x[..., None] for x in extra)], dim=-1)
        return has, last, mean, age, lead, lead_feat, P, mix_feat

    @torch.no_grad()
    def simple_forecasts(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """The simple predictors of every query of ``batch`` without running the encoder:
        P (B, Q, K) (columns ``itnet_ts.model.baselines.PREDICTORS``; needs the "mix" start)
        and the features (B, Q, F [+ 4]) the mix weights depend on."""
        if self.mix is None:
            raise ValueError("simple_forecasts needs an ITNet with start='mix'")
        st = self._summary(batch, [])
        *_, P, mix_feat = self._query_simple(st, batch.q_tau, batch.q_chan)
        return P, mix_feat

    def _attend(self, st: EncoderState, q_tau: Tensor, qe: Tensor) -> Tensor:
        """Attention-mode read: queries qe (B, Q, D) at q_tau (B, Q) over the memory tokens."""
        mem_tau = st.memory_tau  # (B, N)
        keys = st.memory + self.mem_time(self.time_feat(mem_tau.neg()))  # (B, N, D)
        w = st.memory_valid
        if not bool((w.sum(1) > 0).all()):  # an empty history: one zero key of weight 1
            w = torch.cat([w, (w.sum(1, keepdim=True) == 0).to(w.dtype)], dim=1)
            keys = torch.cat([keys, torch.zeros_like(keys[:, :1])], dim=1)
            mem_tau = torch.cat([mem_tau, torch.zeros_like(mem_tau[:, :1])], dim=1)
        return self.attn(q_tau, qe, mem_tau, keys, w)  # (B, Q, D)

    def forward(self, batch: Batch) -> Tensor:
        return self.decode(self.encode(batch), batch.q_tau, batch.q_chan, batch.q_futr)


def _required(x: Tensor | None, name: str, n: int) -> Tensor:
    """A covariate tensor the config says the model takes: present, with ``n`` features."""
    if x is None or x.shape[-1] != n:
        got = "none" if x is None else f"{x.shape[-1]} features"
        raise ValueError(f"this ITNet takes {n} {name} covariate features; got {got}")
    return x


def _check_config(cfg: ITNetConfig) -> None:
    """The settings ``ITNet`` checks itself (a ValueError naming the setting)."""
    if cfg.integration not in ("exact", "monte_carlo"):
        raise ValueError(f"integration must be 'exact' or 'monte_carlo', got {cfg.integration!r}")
    if cfg.decoder not in ("recurrent", "attention", "both"):
        raise ValueError(f"decoder must be 'recurrent', 'attention' or 'both', got {cfg.decoder!r}")
    if cfg.start not in ("mix", "persistence"):
        raise ValueError(f"start must be 'mix' or 'persistence', got {cfg.start!r}")
    if cfg.mix_version not in (1, 2):
        raise ValueError(f"mix_version must be 1 or 2, got {cfg.mix_version!r}")
    periodic = cfg.period_grid is not None
    if periodic and (cfg.mix_version != 2 or cfg.start != "mix"):
        raise ValueError(
            "a period grid (the periodic predictor) needs start='mix' and mix_version=2"
        )
    if periodic and not (cfg.period_f_min > 0 and cfg.period_df > 0):
        raise ValueError(
            f"a period grid needs period_f_min > 0 and period_df > 0; got "
            f"{cfg.period_f_min}, {cfg.period_df}"
        )
