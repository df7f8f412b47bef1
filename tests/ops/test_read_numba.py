"""The numba decoder read against the float64 PyTorch reference: outputs and the gradient of
every input, at odd sizes, with zero and huge leads, and through the dispatcher."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("numba")

from itnet_ts.ops import read_reference, transform_read
from itnet_ts.ops.read_numba import read_numba

TOL = {torch.float32: 5e-5, torch.float64: 1e-11}


def make_inputs(B, Q, D, R, *, S=1, dtype=torch.float64, seed=0, lead_scale=3.0):
    g = torch.Generator().manual_seed(seed)
    x = {
        "state": torch.randn(B, S, D, R, generator=g, dtype=torch.float64),
        "lam": 0.05 + 2 * torch.rand(D, R, generator=g, dtype=torch.float64),
        "lead": lead_scale * torch.rand(B, Q, generator=g, dtype=torch.float64),
        "Cq": torch.randn(B, Q, R, generator=g, dtype=torch.float64),
    }
    return {k: v.to(dtype) for k, v in x.items()}


def _grads(fn, x, gout):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in x.items()}
    out = fn(**leaves)
    out.backward(gout)
    return out.detach(), {k: v.grad for k, v in leaves.items()}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "shape", [(1, 1, 1, 1), (3, 7, 5, 3), (2, 33, 64, 16), (4, 2, 65, 17)], ids=str
)
def test_matches_reference_outputs_and_gradients(shape, dtype):
    B, Q, D, R = shape
    x = make_inputs(B, Q, D, R, dtype=dtype, seed=sum(shape))
    gout = torch.randn(B, Q, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref, gref = _grads(read_reference, {k: v.double() for k, v in x.items()}, gout)
    out, gnum = _grads(read_numba, x, gout.to(dtype))
    tol = TOL[dtype]
    scale = max(1.0, float(ref.abs().max()))
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), ref, rtol=tol, atol=tol * scale)
    for k in x:
        s = max(1.0, float(gref[k].abs().max()))
        torch.testing.assert_close(gnum[k].double(), gref[k], rtol=tol, atol=tol * s, msg=k)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shared_leads_match_reference(dtype):
    """Queries at one time (several channels) share their decays in the kernel: runs of equal
    leads, a lead recurring after another, and trailing padding at lead 0."""
    B, Q, D, R = 3, 17, 37, 5
    x = make_inputs(B, Q, D, R, dtype=dtype, seed=11)
    runs = torch.tensor([0.5, 0.5, 0.5, 1.25, 1.25, 2.0, 0.5, 0.5, 3.0, 3.0, 3.0, 3.0, 7.0])
    x["lead"][:, : len(runs)] = runs.to(dtype)
    x["lead"][:, len(runs) :] = 0.0
    x["lead"][2] = 4.0  # one group for the whole row
    gout = torch.randn(B, Q, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    gout[:, len(runs) :] = 0.0  # padded queries get no gradient, as in training
    ref, gref = _grads(read_reference, {k: v.double() for k, v in x.items()}, gout)
    out, gnum = _grads(read_numba, x, gout.to(dtype))
    tol = TOL[dtype]
    torch.testing.assert_close(out.double(), ref, rtol=tol, atol=tol * max(1.0, ref.abs().max()))
    for k in x:
        s = max(1.0, float(gref[k].abs().max()))
        torch.testing.assert_close(gnum[k].double(), gref[k], rtol=tol, atol=tol * s, msg=k)


def test_zero_and_huge_leads_stay_finite():
    x = make_inputs(2, 6, 8, 4)
    x["lead"][0, :3] = 0.0
    x["lead"][1, :3] = 1e9  # exp underflows to exactly 0, never NaN
    gout = torch.ones(2, 6, 8, dtype=torch.float64)
    ref, gref = _grads(read_reference, x, gout)
    out, gnum = _grads(read_numba, x, gout)
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in gnum.values())
    torch.testing.assert_close(out, ref)
    for k in x:
        torch.testing.assert_close(gnum[k], gref[k], msg=k)
    assert (out[1, :3] == 0).all()


def test_extra_state_components_get_zero_gradient():
    """Only the real component is read (plain poles); a state with more components still works."""
    x = make_inputs(2, 4, 6, 3, S=2)
    gout = torch.randn(2, 4, 6, dtype=torch.float64)
    out, g = _grads(read_numba, x, gout)
    ref = read_reference(x["state"][:, :1], x["lam"], x["lead"], x["Cq"])
    torch.testing.assert_close(out, ref)
    assert (g["state"][:, 1] == 0).all()


def test_gradcheck_float64():
    x = make_inputs(2, 3, 5, 3, seed=4)
    leaves = tuple(v.requires_grad_(True) for v in x.values())
    assert torch.autograd.gradcheck(read_numba, leaves)


def test_non_contiguous_inputs():
    x = make_inputs(3, 5, 6, 4, dtype=torch.float32)
    state = x["state"].transpose(2, 3).contiguous().transpose(2, 3)  # same values, strided
    lead = torch.cat([x["lead"], x["lead"]], dim=1)[:, ::2]
    assert not state.is_contiguous() and not lead.is_contiguous()
    ref = read_reference(x["state"].double(), x["lam"].double(), lead.double(), x["Cq"].double())
    out = read_numba(state, x["lam"], lead, x["Cq"])
    torch.testing.assert_close(out.double(), ref, rtol=5e-5, atol=5e-5)


def test_bad_inputs_are_refused():
    x = make_inputs(2, 3, 4, 2)
    with pytest.raises(TypeError, match="every input must be"):
        read_numba(x["state"], x["lam"].float(), x["lead"], x["Cq"])
    with pytest.raises(ValueError, match="do not match"):
        read_numba(x["state"], x["lam"][:, :1], x["lead"], x["Cq"])


def test_dispatcher_uses_the_kernel_only_for_plain_poles(monkeypatch):
    import itnet_ts.ops.read_numba as mod

    calls = []
    real = mod.read_numba
    monkeypatch.setattr(mod, "read_numba", lambda *a: calls.append(1) or real(*a))
    x = make_inputs(2, 3, 4, 2)
    monkeypatch.delenv("ITNET_BACKEND", raising=False)
    transform_read(**x)
    assert calls == [1]
    omega = torch.randn(4, 2, dtype=torch.float64)
    state2 = torch.cat([x["state"], x["state"]], dim=1)
    out = transform_read(state2, x["lam"], x["lead"], x["Cq"], omega=omega)
    assert calls == [1]  # oscillatory poles: the reference
    torch.testing.assert_close(out, read_reference(state2, x["lam"], x["lead"], x["Cq"], omega))
    monkeypatch.setenv("ITNET_BACKEND", "reference")
    transform_read(**x)
    assert calls == [1]


def test_kwn_read_has_no_cliff_at_long_leads():
    """KWN: state and kernel mass decay alike after the last observation, so the read is the
    normalised value at lead 0 at every lead (it used to drop to 0 where a * z < eps), finite
    where exp(-lam * lead) underflows, and the same as the scan's KWN output at lead 0."""
    from itnet_ts.ops.read_reference import read_reference

    g = torch.Generator().manual_seed(0)
    B, Q, D, R = 2, 5, 3, 4
    state = torch.randn(B, 2, D, R, generator=g, dtype=torch.float64)
    state[:, 1] = torch.rand(B, D, R, generator=g, dtype=torch.float64) + 0.1  # mass z > 0
    lam = torch.rand(D, R, generator=g, dtype=torch.float64) + 0.5
    Cq = torch.randn(B, Q, R, generator=g, dtype=torch.float64)
    lead = torch.tensor([0.0, 1.0, 30.0, 1e3, 1e6], dtype=torch.float64).expand(B, Q)
    out = read_reference(state, lam, lead, Cq, kwn=True)
    assert torch.isfinite(out).all()
    want = (Cq[:, :, None, :] * (state[:, 0] / (state[:, 1] + 1e-6))[:, None]).sum(-1)
    torch.testing.assert_close(out, want)
    plain = read_reference(state[:, :1], lam, lead, Cq)  # without KWN the read decays to 0
    assert plain[:, -1].abs().max() == 0 and plain[:, 0].abs().max() > 0
