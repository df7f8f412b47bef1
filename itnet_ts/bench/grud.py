"""GRU-D (Che et al., 2018), a published neural baseline of the benchmark.

GRU-D re-implemented as a forecaster on our harness -- same data, split,
windows, early stopping and scoring as ITNet (``itnet_ts.bench.runs``). Published reference
(t-PatchGNN, ICML 2024, Table 1; ANCHORS.md section 1): GRU-D on PhysioNet, test MSE 5.59e-3,
MAE 4.08e-2, mean of 5 seeds.

Model (:class:`GRUDForecaster`):

* Encoder: GRU-D over the union time points of the history (Che et al. 2018, eqs. 9-13).
  At step t, per variable d: ``delta_t^d`` = time since d was last observed strictly before t
  (``s_t - s_1`` if never; ``delta_1 = 0``), ``x_last`` = that last value (the training mean if
  none). Input decay ``gamma_x = exp(-relu(w_x * delta + b_x))`` (diagonal, per variable) pulls
  a missing input from its last value toward its training mean ``x_mean``:
  ``x_hat = m * x + (1 - m) * (gamma_x * x_last + (1 - gamma_x) * x_mean)``. Hidden decay
  ``gamma_h = exp(-relu(W_h delta + b_h))`` (full matrix) multiplies the hidden state before the
  GRU update, whose input is ``[x_hat, m]`` (the mask enters every gate, as in the paper).
  Padded steps leave the state untouched; an empty history leaves ``h = 0``.
* Decoder: an MLP on ``[h, time embedding of the query, channel embedding]`` -> value.

What we followed for the forecasting adaptation: t-PatchGNN's repository
(usail-hkust/t-PatchGNN) does not contain its baselines' code (its issue #18 asks for it; the
authors' comments in issues #3 and #15 only describe how *regular* MTS models were fed:
canonical pre-alignment, padding to the batch's longest sequence, queries appended). We
therefore mirror t-PatchGNN's own forecasting head (``tPatchGNN/model/tPatchGNN.py``:
``decoder = Linear(enc_dim + te_dim, hid) - ReLU - Linear(hid, hid) - ReLU - Linear(hid, 1)``
on ``[h, LearnableTE(t)]`` with ``LearnableTE(t) = [Linear(1, 1)(t), sin(Linear(1, te_dim -
1)(t))]``, ``te_dim = 10``, time in units of 48 h). GRU-D's hidden state is shared by all
variables, so a learned channel embedding is added to the decoder input to say which
variable is queried. Query time: hours after the 24 h cutoff / 48 (the protocol's absolute
time minus 0.5, a shift the first linear layer absorbs). Training as the published baselines
(:data:`itnet_ts.bench.runs.GRUD_DEFAULTS`): Adam, lr 1e-3 constant, batch 32, the pooled
masked MSE in the protocol's min-max units (``scaling="none"``), early stopping on the
validation protocol MSE with patience 10, no gradient clipping.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["GRUDForecaster"]


class GRUDForecaster(nn.Module):
    """GRU-D encoder + query MLP decoder; ``forward(batch)`` -> (B, Q, 1) in scaled units.

    Args:
        n_channels: C, the number of variables.
        x_mean: (C,) training mean of each variable's history values, in the batch's (scaled)
            units: the value a missing input decays toward.
        hidden: GRU-D hidden size (also the decoder's hidden width).
        te_dim: size of the learnable time embedding of the query time.
        chan_dim: size of the channel embedding.
        time_scale: multiplies ``batch.q_tau`` before the time embedding (1/48 with the
            PhysioNet hour unit: t-PatchGNN's normalised time). The encoder's decays use
            ``batch.tau`` as is (hours).
    """

    def __init__(
        self,
        n_channels: int,
        x_mean=None,
        hidden: int = 64,
        te_dim: int = 10,
        chan_dim: int = 16,
        time_scale: float = 1.0,
    ):
        super().__init__()
        C, H = n_channels, hidden
        self.n_channels, self.hidden, self.time_scale = C, H, float(time_scale)
        xm = torch.zeros(C) if x_mean is None else torch.as_tensor(x_mean, dtype=torch.float32)
        if xm.shape != (C,):
            raise ValueError(f"x_mean must have shape ({C},), got {tuple(xm.shape)}")
        self.register_buffer("x_mean", xm.clone())
        # input decay: diagonal (one rate and offset per variable), as in the paper
        bound = 1.0 / math.sqrt(C)
        self.w_x = nn.Parameter(torch.empty(C).uniform_(-bound, bound))
        self.b_x = nn.Parameter(torch.empty(C).uniform_(-bound, bound))
        # hidden decay: full matrix from the C time gaps to the H hidden units
        self.decay_h = nn.Linear(C, H)
        # GRU on [x_hat, m] (the input-side matmuls of all steps are done at once)
        self.cell = nn.GRUCell(2 * C, H)
        # decoder (t-PatchGNN's head + a channel embedding)
        self.te_scale = nn.Linear(1, 1)
        self.te_periodic = nn.Linear(1, te_dim - 1)
        self.chan_emb = nn.Embedding(C, chan_dim)
        self.decoder = nn.Sequential(
            nn.Linear(H + te_dim + chan_dim, H),
            nn.ReLU(),
            nn.Linear(H, H),
            nn.ReLU(),
            nn.Linear(H, 1),
        )

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """t-PatchGNN's LearnableTE: ``[lin(t), sin(lin'(t))]`` for t of shape (..., 1)."""
        return torch.cat([self.te_scale(t), torch.sin(self.te_periodic(t))], -1)

    def gru_d_inputs(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per step GRU input ``[x_hat, m]`` (B, N, 2C) and time gaps ``delta`` (B, N, C)."""
        tau, x, m = batch.tau, batch.values, batch.mask  # (B,N), (B,N,C), (B,N,C)
        B, N, C = x.shape
        steps = torch.arange(N, device=x.device).view(1, N, 1)
        # index of the last observation of each variable at or before each step, -1 if none
        last_at = torch.cummax(torch.where(m > 0, steps, -1).expand(B, N, C), dim=1).values
        # ... strictly before each step
        prev = torch.cat([torch.full_like(last_at[:, :1], -1), last_at[:, :-1]], dim=1)
        has_prev = prev >= 0
        idx = prev.clamp(min=0)
        tau_c = tau.unsqueeze(-1).expand(B, N, C)
        # time since last observed strictly before t; since the first step if never (paper)
        t_prev = torch.where(has_prev, tau_c.gather(1, idx), tau[:, :1].unsqueeze(-1))
        delta = (tau_c - t_prev).clamp(min=0)
        x_last = torch.where(has_prev, x.gather(1, idx), self.x_mean)
        gamma_x = torch.exp(-torch.relu(self.w_x * delta + self.b_x))
        x_hat = m * x + (1 - m) * (gamma_x * x_last + (1 - gamma_x) * self.x_mean)
        return torch.cat([x_hat, m], -1), delta

    def encode(self, batch) -> torch.Tensor:
        """Final GRU-D hidden state (B, H) after the last valid history step."""
        inp, delta = self.gru_d_inputs(batch)
        B, N, _ = inp.shape
        H = self.hidden
        gamma_h = torch.exp(-torch.relu(self.decay_h(delta)))  # (B, N, H)
        gi = nn.functional.linear(inp, self.cell.weight_ih, self.cell.bias_ih)  # (B, N, 3H)
        valid = batch.valid.unsqueeze(-1)  # (B, N, 1)
        h = inp.new_zeros(B, H)
        w_hh, b_hh = self.cell.weight_hh, self.cell.bias_hh
        for t in range(N):
            hd = gamma_h[:, t] * h
            gh = nn.functional.linear(hd, w_hh, b_hh)
            i_r, i_z, i_n = gi[:, t].chunk(3, -1)
            h_r, h_z, h_n = gh.chunk(3, -1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            h_new = (1 - z) * n + z * hd
            h = torch.where(valid[:, t], h_new, h)
        return h

    def forward(self, batch) -> torch.Tensor:
        h = self.encode(batch)  # (B, H)
        B, Q = batch.q_tau.shape
        te = self.time_embedding((batch.q_tau * self.time_scale).unsqueeze(-1))  # (B, Q, te)
        feats = torch.cat([h.unsqueeze(1).expand(B, Q, -1), te, self.chan_emb(batch.q_chan)], -1)
        return self.decoder(feats)  # (B, Q, 1)
