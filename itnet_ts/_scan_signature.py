"""The recurrent scan's signature, shared by the reference and every backend (``ops`` and
``gpu``): the shape checks, the number of state components, and the result where there is
nothing to compute. See ``itnet_ts.ops.scan_reference`` for the semantics."""

from __future__ import annotations

from torch import Tensor

__all__ = ["check_scan_inputs", "empty_scan", "state_components"]


def state_components(has_omega: bool, kwn: bool) -> int:
    """Number of state components S for this configuration."""
    return 1 + int(has_omega) + int(kwn)


def check_scan_inputs(
    u: Tensor,
    dtau: Tensor,
    w: Tensor,
    Bm: Tensor,
    Cm: Tensor,
    lam: Tensor,
    omega: Tensor | None = None,
    sel: Tensor | None = None,
    s0: Tensor | None = None,
    skip: Tensor | None = None,
    kwn: bool = False,
) -> tuple[int, int, int, int, int]:
    """Validate shapes of the scan signature; return ``(B, N, D, R, S)``."""
    if u.dim() != 3:
        raise ValueError(f"u must be (B, N, D), got shape {tuple(u.shape)}")
    B, N, D = u.shape
    if lam.dim() != 2 or lam.shape[0] != D:
        raise ValueError(f"lam must be (D={D}, R), got shape {tuple(lam.shape)}")
    R = lam.shape[1]
    S = state_components(omega is not None, kwn)
    expected = {
        "dtau": (dtau, (B, N)),
        "w": (w, (B, N)),
        "Bm": (Bm, (B, N, R)),
        "Cm": (Cm, (B, N, R)),
        "omega": (omega, (D, R)),
        "sel": (sel, (B, N, D)),
        "s0": (s0, (B, S, D, R)),
        "skip": (skip, (D,)),
    }
    for name, (t, shape) in expected.items():
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    return B, N, D, R, S


def empty_scan(
    u: Tensor, lam: Tensor, s0: Tensor | None, skip: Tensor | None, kwn: bool, has_omega: bool
) -> tuple[Tensor, Tensor]:
    """The scan's ``(y, state)`` when one of B, N, D, R is 0 (what the reference returns): no
    pole contributes, so ``y`` is the skip term alone and the state is the initial state."""
    B, N, D = u.shape
    y = skip * u if skip is not None else u.new_zeros(B, N, D)
    if s0 is not None:
        return y, s0.clone()
    return y, u.new_zeros(B, state_components(has_omega, kwn), D, lam.shape[1])
