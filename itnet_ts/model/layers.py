"""ITNet layers: the integral transform as nn.Modules.

``RecurrentTransform`` is the encoder's transform, evaluated in recurrent mode (a
continuous-time linear recurrence over the observations, ``itnet_ts.ops.recurrent_scan``) or
as the equivalent causal sums in attention / conv mode (``recurrent_quadratic``).
``AttentionTransform`` (content kernel plus a learned lag kernel) is the attention decoder.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from itnet_ts.ops import recurrent_scan, transform_read
from itnet_ts.ops.transform_reference import attention_transform, recurrent_quadratic

__all__ = [
    "ENCODER_MODES",
    "AttentionTransform",
    "FourierFeatures",
    "RecurrentBlock",
    "RecurrentTransform",
]


class FourierFeatures(nn.Module):
    """``[sin(2 pi f x), cos(2 pi f x), log1p(|x|)]`` at geometric frequencies (fixed)."""

    def __init__(self, n_freq: int, min_period: float, max_period: float):
        super().__init__()
        periods = torch.logspace(math.log10(min_period), math.log10(max_period), n_freq)
        self.register_buffer("freq", 2 * math.pi / periods, persistent=False)
        self.out_dim = 2 * n_freq + 1

    def forward(self, x: Tensor) -> Tensor:  # (...,) -> (..., 2F + 1)
        ang = x[..., None] * self.freq
        return torch.cat([torch.sin(ang), torch.cos(ang), torch.log1p(x.abs())[..., None]], -1)


ENCODER_MODES = ("recurrent", "attention", "conv")


class RecurrentTransform(nn.Module):
    """The ITNet integral transform over one sequence of observation features.

    ``u = V h``, kernel factors ``B_n, C_n = MLP(h_n)`` (low rank R; with ``lag_only``, learned
    constants instead, so the kernel depends on the lag alone), decays ``lam > 0`` per (D, R),
    optional oscillatory ``omega`` and selectivity; output ``LayerNorm(y) W_o`` (``y W_o`` with
    ``integral_norm=False``). ``mode``
    (settable) picks the evaluation: "recurrent" (the scan), "attention" or "conv" (the
    quadratic causal sums of ``recurrent_quadratic``; "conv" needs ``lag_only``). A step with
    an initial state (streaming) always runs the scan.
    """

    def __init__(
        self,
        d_model: int,
        rank: int,
        hidden: int,
        timescale_min: float,
        timescale_max: float,
        oscillatory: bool = False,
        selective: bool = False,
        kwn: bool = False,
        mode: str = "recurrent",
        integral_norm: bool = True,
    ):
        super().__init__()
        D, R = d_model, rank
        self.value = nn.Linear(D, D)
        self.lag_only = mode == "conv"
        if self.lag_only and selective:
            raise ValueError(
                "encoder_mode='conv' needs a kernel of the lag alone; selective=True makes the "
                "elapsed time depend on the input. Use selective=False, or another mode."
            )
        if self.lag_only:  # constant factors: B, C of the kernel are not functions of h_n
            self.factors = None
            g = torch.Generator().manual_seed(1)
            self.const_factors = nn.Parameter(torch.randn(2 * R, generator=g) / math.sqrt(R))
        else:
            self.factors = nn.Sequential(nn.Linear(D, hidden), nn.GELU(), nn.Linear(hidden, 2 * R))
        # decay time scales spread log-uniformly over [timescale_min, timescale_max]
        scales = torch.logspace(math.log10(timescale_min), math.log10(timescale_max), D * R)
        scales = scales[torch.randperm(D * R, generator=torch.Generator().manual_seed(0))]
        lam = (1.0 / scales).reshape(D, R)
        self.lam_raw = nn.Parameter(torch.log(torch.expm1(lam)))  # softplus^-1
        self.omega = None
        if oscillatory:
            periods = torch.logspace(math.log10(2 * timescale_min), math.log10(timescale_max), R)
            self.omega = nn.Parameter((2 * math.pi / periods).repeat(D, 1))
        self.sel = nn.Linear(D, D) if selective else None
        self.skip = nn.Parameter(torch.zeros(D))
        self.kwn = kwn
        self.norm = nn.LayerNorm(D) if integral_norm else nn.Identity()
        self.out = nn.Linear(D, D)
        self.mode = "recurrent"
        self.set_mode(mode)

    def set_mode(self, mode: str) -> None:
        """Evaluate in ``mode`` from now on (the parameters are unchanged)."""
        if mode not in ENCODER_MODES:
            raise ValueError(f"encoder_mode must be one of {list(ENCODER_MODES)}, got {mode!r}")
        if mode == "conv" and not self.lag_only:
            raise ValueError(
                "this transform's kernel factors depend on the input (trained in 'recurrent' "
                "or 'attention' mode), so it has no kernel of the lag alone to evaluate as a "
                "convolution; evaluate it in 'recurrent' or 'attention' mode, or train with "
                "encoder_mode='conv'"
            )
        self.mode = mode

    @property
    def lam(self) -> Tensor:
        return F.softplus(self.lam_raw)  # (D, R)

    def scan_inputs(self, h: Tensor) -> dict:
        """Per-step scan inputs from features ``h`` (B, N, D)."""
        if self.lag_only:
            f = self.const_factors.to(h.dtype).expand(*h.shape[:-1], -1).contiguous()
        else:
            f = self.factors(h)
        Bm, Cm = f.chunk(2, dim=-1)  # (B, N, R) each
        sel = F.softplus(self.sel(h)) if self.sel is not None else None
        return dict(u=self.value(h), Bm=Bm, Cm=Cm, sel=sel)

    def forward(self, h: Tensor, dtau: Tensor, w: Tensor, s0: Tensor | None = None):
        """h (B, N, D), dtau (B, N), w (B, N) -> y (B, N, D), state (B, S, D, R)."""
        p = self.scan_inputs(h)
        if self.mode != "recurrent" and s0 is None:  # the same sums, O(N^2)
            y, state = recurrent_quadratic(
                p["u"], dtau, w, p["Bm"], p["Cm"], self.lam, omega=self.omega, sel=p["sel"],
                skip=self.skip, kwn=self.kwn,
            )  # fmt: skip
            return self.out(self.norm(y)), state
        y, state = recurrent_scan(
            p["u"],
            dtau,
            w,
            p["Bm"],
            p["Cm"],
            self.lam,
            omega=self.omega,
            sel=p["sel"],
            s0=s0,
            skip=self.skip,
            kwn=self.kwn,
        )
        return self.out(self.norm(y)), state

    def read(self, state: Tensor, lead: Tensor, Cq: Tensor, eps: float = 1e-6) -> Tensor:
        """Evaluate the transform at future coordinates in closed form.

        state (B, S, D, R) after the last observation; lead (B, Q) >= 0 time from the last
        observation to each query; Cq (B, Q, R) query-side kernel factors -> (B, Q, D).
        """
        return transform_read(state, self.lam, lead, Cq, self.omega, self.kwn, eps)


class RecurrentBlock(nn.Module):
    """Pre-norm residual block: ``h += drop(T(LN h))``; ``h += drop(FFN(LN h))``."""

    def __init__(self, d_model: int, ffn_mult: int, dropout: float, **transform_kw):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.transform = RecurrentTransform(d_model, **transform_kw)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, ffn_mult * d_model),
            nn.GELU(),
            nn.Linear(ffn_mult * d_model, d_model),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor, dtau: Tensor, w: Tensor, s0: Tensor | None = None):
        """h (B, N, D) -> h (B, N, D), state (B, S, D, R)."""
        y, state = self.transform(self.norm1(h), dtau, w, s0)
        h = h + self.drop(y)
        h = h + self.drop(self.ffn(self.norm2(h)))
        return h, state


class AttentionTransform(nn.Module):
    """Attention-mode integral transform: content kernel plus a learned lag kernel."""

    def __init__(self, d_model: int, hidden: int, d_key: int | None = None):
        super().__init__()
        d_key = d_key or d_model
        self.q = nn.Linear(d_model, d_key)
        self.k = nn.Linear(d_model, d_key)
        self.v = nn.Linear(d_model, d_model)
        self.lag = nn.Sequential(nn.Linear(1, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, q_tau: Tensor, q_h: Tensor, k_tau: Tensor, k_h: Tensor, w: Tensor) -> Tensor:
        """q_tau (B, M), q_h (B, M, D), k_tau (B, N), k_h (B, N, D), w (B, N) -> (B, M, D)."""
        return attention_transform(q_tau, k_tau, self.q(q_h), self.k(k_h), self.v(k_h), w, self.lag)
