"""Per-channel value scaling of ragged series (the model's standardised units)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from itnet_ts.data._ragged import RaggedSeries

__all__ = ["ValueScaler"]


@dataclass(frozen=True)
class ValueScaler:
    """Per-channel affine scaling ``(x - loc) / scale`` fitted on training observations."""

    loc: np.ndarray  # (C,)
    scale: np.ndarray  # (C,)

    @classmethod
    def fit(cls, ragged: RaggedSeries, method: str = "standard") -> ValueScaler:
        C = len(ragged.channels)
        if method == "none":
            return cls(np.zeros(C), np.ones(C))
        if method != "standard":
            raise ValueError(f"scaling must be 'standard' or 'none', got {method!r}")
        m = ragged.mask
        count = np.maximum(m.sum(0), 1)
        # work in units of each channel's largest magnitude: no overflow for values near the
        # float64 limit, no underflow for tiny ones
        big = np.where(m, np.abs(ragged.values), 0.0).max(0) if len(m) else np.zeros(C)
        big = np.where(big > 0, big, 1.0)
        v = np.where(m, ragged.values / big, 0.0)
        loc_u = v.sum(0) / count
        var_u = (np.where(m, v - loc_u, 0.0) ** 2).sum(0) / count
        loc, scale = loc_u * big, np.sqrt(var_u) * big
        # constant (or constant up to float64 rounding) channels: scale by their magnitude
        # (unit scale for a constant 0), which keeps scaling equivariant and never divides by 0
        eps = np.finfo(np.float64).eps
        tiny = (np.sqrt(var_u) <= 64 * eps * np.abs(loc_u)) | (scale < np.finfo(np.float64).tiny)
        fallback = np.where(np.abs(loc) > 0, np.abs(loc), 1.0)
        scale = np.where(tiny, fallback, scale)
        return cls(loc, scale)

    def transform(self, values: np.ndarray, chan: np.ndarray | None = None) -> np.ndarray:
        if chan is None:
            return (values - self.loc) / self.scale
        return (values - self.loc[chan]) / self.scale[chan]

    def inverse(self, values: np.ndarray, chan: np.ndarray) -> np.ndarray:
        return values * self.scale[chan] + self.loc[chan]
