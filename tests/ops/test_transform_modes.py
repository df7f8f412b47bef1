"""The three modes of the integral transform, proven on numbers against independent forms."""

import pytest
import torch
import torch.nn.functional as F

from itnet_ts.ops import scan_reference
from itnet_ts.ops.transform_reference import (
    attention_transform,
    conv_transform,
    recurrent_direct,
)


@pytest.fixture(autouse=True)
def _float64():
    """float64 for this module only (a global default would leak into other tests)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _irregular(B, N, gen):
    gaps = torch.rand(B, N, generator=gen) * 2.0
    gaps[:, ::5] = 0.0  # some simultaneous observations (zero gaps)
    return torch.cumsum(gaps, 1)


@pytest.mark.parametrize("oscillatory", [False, True])
@pytest.mark.parametrize("kwn", [False, True])
def test_recurrent_scan_equals_direct_quadratic_sum(oscillatory, kwn):
    gen = torch.Generator().manual_seed(1)
    B, N, D, R = 3, 37, 5, 4
    tau = _irregular(B, N, gen)
    dtau = torch.diff(tau, dim=1, prepend=tau[:, :1])
    u = torch.randn(B, N, D, generator=gen)
    w = torch.rand(B, N, generator=gen) + 0.1
    Bm, Cm = torch.randn(B, N, R, generator=gen), torch.randn(B, N, R, generator=gen)
    lam = torch.rand(D, R, generator=gen) + 0.05
    omega = torch.rand(D, R, generator=gen) * 3 if oscillatory else None
    y_scan, _ = scan_reference(u, dtau, w, Bm, Cm, lam, omega=omega, kwn=kwn)
    y_direct = recurrent_direct(tau, u, w, Bm, Cm, lam, omega=omega, kwn=kwn)
    torch.testing.assert_close(y_scan, y_direct, rtol=1e-10, atol=1e-10)


def test_conv_mode_on_regular_grid_is_ordinary_convolution():
    gen = torch.Generator().manual_seed(2)
    B, N, D, L = 2, 30, 4, 3  # kernel support: lags -L..L
    tau = torch.arange(N, dtype=torch.float64).expand(B, N)
    v = torch.randn(B, N, D, generator=gen)
    mlp = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.GELU(), torch.nn.Linear(16, D))
    y = conv_transform(tau, tau, v, torch.ones(B, N), mlp, support=L + 0.5)
    lags = torch.arange(-L, L + 1, dtype=torch.float64)[:, None]
    k = mlp(lags)  # (2L + 1, D) sampled kernel k(lag)
    # y_m = sum_j k(m - j) v_j  ==  depthwise cross-correlation with the flipped kernel
    weight = k.flip(0).T[:, None, :]  # (D, 1, 2L + 1)
    y_conv = F.conv1d(v.transpose(1, 2), weight, padding=L, groups=D).transpose(1, 2)
    torch.testing.assert_close(y, y_conv, rtol=1e-10, atol=1e-10)


def test_attention_mode_with_zero_lag_kernel_is_softmax_attention():
    gen = torch.Generator().manual_seed(3)
    B, M, N, E, D = 2, 7, 11, 8, 5
    q, k = torch.randn(B, M, E, generator=gen), torch.randn(B, N, E, generator=gen)
    v = torch.randn(B, N, D, generator=gen)
    y = attention_transform(torch.rand(B, M), torch.rand(B, N), q, k, v, torch.ones(B, N))
    torch.testing.assert_close(y, F.scaled_dot_product_attention(q, k, v), rtol=1e-10, atol=1e-10)


def test_attention_importance_weights_are_a_weighted_softmax():
    gen = torch.Generator().manual_seed(4)
    B, M, N, E, D = 1, 3, 6, 4, 2
    q, k = torch.randn(B, M, E, generator=gen), torch.randn(B, N, E, generator=gen)
    v = torch.randn(B, N, D, generator=gen)
    w = torch.rand(B, N, generator=gen)
    w[0, 2] = 0.0  # a padded key is ignored
    y = attention_transform(torch.zeros(B, M), torch.zeros(B, N), q, k, v, w)
    e = torch.exp(q @ k.transpose(1, 2) / E**0.5) * w[:, None, :]
    torch.testing.assert_close(y, (e / e.sum(-1, keepdim=True)) @ v)


def test_scan_padding_leaves_state_unchanged():
    gen = torch.Generator().manual_seed(5)
    B, N, D, R = 2, 9, 3, 2
    args = dict(
        u=torch.randn(B, N, D, generator=gen),
        dtau=torch.rand(B, N, generator=gen),
        w=torch.rand(B, N, generator=gen),
        Bm=torch.randn(B, N, R, generator=gen),
        Cm=torch.randn(B, N, R, generator=gen),
    )
    lam = torch.rand(D, R, generator=gen)
    _, s_short = scan_reference(*(a[:, :6] for a in args.values()), lam, kwn=True)
    padded = {k: v.clone() for k, v in args.items()}
    padded["w"][:, 6:] = 0
    padded["dtau"][:, 6:] = 0
    _, s_pad = scan_reference(*padded.values(), lam, kwn=True)
    torch.testing.assert_close(s_short, s_pad)


@pytest.mark.parametrize("omega,sel,skip,kwn", [
    (False, False, False, False), (True, False, True, False), (False, True, False, True),
    (True, True, True, True),
])  # fmt: skip
def test_quadratic_form_equals_the_scan_outputs_state_and_gradients(omega, sel, skip, kwn):
    """Attention form of the recurrent transform (O(N^2), row blocks, checkpointed) against
    the scan, on irregular times with simultaneous points and right padding."""
    from itnet_ts.ops.transform_reference import recurrent_quadratic

    gen = torch.Generator().manual_seed(5)
    B, N, D, R = 3, 23, 4, 3
    tau = _irregular(B, N, gen)
    dtau = torch.diff(tau, dim=1, prepend=tau[:, :1])
    w = torch.rand(B, N, generator=gen) + 0.1
    dtau[1, 17:], w[1, 17:] = 0.0, 0.0  # padding: no time passes, no weight
    leaves = dict(
        u=torch.randn(B, N, D, generator=gen), Bm=torch.randn(B, N, R, generator=gen),
        Cm=torch.randn(B, N, R, generator=gen), lam=torch.rand(D, R, generator=gen) + 0.05,
    )  # fmt: skip
    if omega:
        leaves["omega"] = torch.rand(D, R, generator=gen) * 3
    if sel:
        leaves["sel"] = torch.rand(B, N, D, generator=gen) + 0.5
    if skip:
        leaves["skip"] = torch.randn(D, generator=gen)
    leaves = {k: v.requires_grad_() for k, v in leaves.items()}
    gy, gs = torch.randn(B, N, D, generator=gen), None
    outs = []
    for fn, kw in ((scan_reference, {}), (recurrent_quadratic, {"max_elements": 500})):
        y, state = fn(dtau=dtau, w=w, kwn=kwn, **leaves, **kw)
        gs = torch.randn(state.shape, generator=torch.Generator().manual_seed(6))
        grads = torch.autograd.grad((y * gy).sum() + (state * gs).sum(), list(leaves.values()))
        outs.append((y, state, grads))
    (y0, s0, g0), (y1, s1, g1) = outs
    torch.testing.assert_close(y1, y0, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(s1, s0, rtol=1e-10, atol=1e-10)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
