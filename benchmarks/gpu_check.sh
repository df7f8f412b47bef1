#!/usr/bin/env bash
# GPU check for a lent CUDA machine (H100 / H200, no network; the image has torch and cupy).
# Installs nothing, needs no polars.  Runs, with a time limit each, from the repository root:
#   1. the gpu-marked tests:   pytest -m gpu tests/gpu -q   (CUDA kernels vs float64, gradients,
#                                NaN-poisoned outputs, odd sizes, float32-vs-float64 accuracy)
#   2. the scan timing at the roofline shape B=64 N=2048 D=128 R=16 float32, plain and with every
#      option (omega, sel, kwn, skip, s0): inputs generated on the GPU, the float32 kernel
#      checked against float64 (reference on a prefix, the float64 kernel on the whole) before
#      timing; the card's device-to-device copy bandwidth measured first; CUDA events.
#      Device time: a GPU sleep kernel is queued first so that the host enqueues all repeats
#      before the GPU reaches them (the time between the events is kernels only); the time of
#      one call as a caller sees it (host overhead included) is reported beside it.
#      The backward both ways (ITNET_SCAN_BWD): the chunked, time-parallel kernels (the default;
#      also with a 56 KiB shared-memory budget, and with one chunk per segment) and the serial one
#      (one block per series and channel tile walks all N steps); the forward both ways
#      (ITNET_SCAN_FWD: serial, the default, and chunked); every variant's float32 outputs and
#      gradients are compared with the serial kernels' first; a variant that fails is recorded
#      (and fails the step) without stopping the others.  Also a training-like shape (B=32 N=256
#      D=64 R=16, the PhysioNet model's width and rank), where the serial kernels launch 64
#      blocks and leave SMs idle.
# Logs and JSON go to $OUT (default ./gpu_check_out); a short table is printed at the end.
# Usage:  OUT=/tmp/out bash benchmarks/gpu_check.sh        (about 3-4 minutes; at most 5)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

{
  echo "date: $(date -u +%FT%TZ)   host: $(hostname)   commit: $(git rev-parse --short HEAD 2>/dev/null)"
  (timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm \
    --format=csv 2>/dev/null || echo "nvidia-smi: not available")
  timeout 60 python - <<'EOF'
import platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "device", torch.cuda.get_device_name() if torch.cuda.is_available() else "NONE")
try:
    import cupy
    print("cupy", cupy.__version__, "runtime", cupy.cuda.runtime.runtimeGetVersion())
except Exception as exc:  # noqa: BLE001
    print("cupy: NOT importable:", exc)
try:
    import pytest
    print("pytest", pytest.__version__)
except ImportError:
    print("pytest: NOT installed")
EOF
} 2>&1 | tee "$OUT/env.txt"

echo "== 1. pytest -m gpu tests/gpu"
timeout 180 python -m pytest -m gpu tests/gpu -q -p no:cacheprovider -rs --durations=5 \
  --junitxml="$OUT/pytest_gpu.xml" 2>&1 | tee "$OUT/pytest_gpu.log"
PYTEST_RC=${PIPESTATUS[0]}

echo "== 2. scan timing at the roofline shape"
timeout 100 python - "$OUT/scan_timing.json" <<'EOF' 2>&1 | tee "$OUT/scan_timing.log"
import json, os, statistics, sys
import torch
from itnet_ts.gpu import scan_cuda as scm
from itnet_ts.gpu.scan_cuda import scan_cuda
from itnet_ts.ops.scan_reference import scan_reference

dev = torch.device("cuda")
B, N, D, R = 64, 2048, 128, 16
g = torch.Generator(device=dev).manual_seed(0)
SLEEP = hasattr(torch.cuda, "_sleep")


def device_ms(fn, reps):
    """GPU time per call of fn(): reps calls between two events, queued behind a sleep kernel."""
    fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    if SLEEP:
        torch.cuda._sleep(100_000_000)  # ~50 ms: the host queues every repeat meanwhile
    a.record()
    for _ in range(reps):
        fn()
    b.record()
    b.synchronize()
    return a.elapsed_time(b) / reps


def call_ms(fn, reps):
    """Median time of one call between events right around it (host overhead included)."""
    fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def best(fn, reps, rounds=3):
    return min(device_ms(fn, reps) for _ in range(rounds))


# copy bandwidth of this card: dst.copy_(src) moves 2 * nbytes
nbytes = 1 << 30
src = torch.empty(nbytes // 4, device=dev)
dst = torch.empty_like(src)
copy_ms = best(lambda: dst.copy_(src), 10)
bw = 2 * nbytes / (copy_ms * 1e-3)
del src, dst
torch.cuda.empty_cache()
print(f"copy bandwidth {bw / 1e12:.3f} TB/s ({copy_ms:.3f} ms per GiB copy)")

plain_bytes = 4 * (2 * B * N * D + 2 * B * N * R + 2 * B * N)  # read u B C dtau w, write y


def inputs(all_opts, B=B, N=N, D=D):
    Bc = torch.randn(B, N, 2 * R, device=dev, generator=g)
    Bc[..., R:] /= 4
    kw = dict(
        u=torch.randn(B, N, D, device=dev, generator=g),
        dtau=torch.rand(B, N, device=dev, generator=g),
        w=torch.rand(B, N, device=dev, generator=g) + 0.1,
        Bm=Bc[..., :R],  # strided views, as the model's chunk gives them
        Cm=Bc[..., R:],
        lam=torch.rand(D, R, device=dev, generator=g) + 0.05,
    )
    extra = 0
    if all_opts:
        kw["omega"] = torch.randn(D, R, device=dev, generator=g) * 2
        kw["sel"] = torch.rand(B, N, D, device=dev, generator=g) + 0.5
        s0 = torch.randn(B, 3, D, R, device=dev, generator=g)
        s0[:, 2] = s0[:, 2].abs() + 0.5
        kw["s0"] = s0
        kw["skip"] = torch.randn(D, device=dev, generator=g)
        extra = 4 * (B * N * D + 2 * B * 3 * D * R)  # read sel, read s0 / write the state
    plain = 4 * (2 * B * N * D + 2 * B * N * R + 2 * B * N)
    return kw, dict(kwn=all_opts), plain, plain + extra


def rel(a, b):
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


def check(kw, opts):
    """float32 kernel vs the float64 kernel (whole) and the float64 reference (2 x 160 prefix)."""
    with torch.no_grad():
        y, st = scan_cuda(**kw, **opts)
        y64, st64 = scan_cuda(**{k: v.double() for k, v in kw.items()}, **opts)
        sub = {}
        for k, v in kw.items():
            v = v.double()
            if k not in ("lam", "omega", "skip"):  # per-series tensors: a prefix of 2 series
                v = v[:2, :160] if k in ("u", "dtau", "w", "Bm", "Cm", "sel") else v[:2]
            sub[k] = v
        yr, _ = scan_reference(**sub, **opts)
    errs = dict(vs_f64_kernel=max(rel(y, y64), rel(st, st64)), vs_reference=rel(y[:2, :160], yr),
                f64_kernel_vs_reference=rel(y64[:2, :160], yr))
    finite = bool(torch.isfinite(y).all() and torch.isfinite(st).all())
    ok = finite and errs["vs_reference"] < 1e-4 and errs["vs_f64_kernel"] < 1e-4
    return ok, errs


# Variants: (label, ITNET_SCAN_FWD, ITNET_SCAN_BWD, BWD_CHUNK_SMEM_TARGET, BWD_TARGET_BLOCKS);
# the first is the default
VARIANTS = [
    ("chunked", "serial", "chunked", scm.BWD_CHUNK_SMEM_TARGET, scm.BWD_TARGET_BLOCKS),
    ("serial", "serial", "serial", scm.BWD_CHUNK_SMEM_TARGET, scm.BWD_TARGET_BLOCKS),
    ("chunked_56k", "serial", "chunked", 56 * 1024, scm.BWD_TARGET_BLOCKS),
    ("chunked_1seg", "serial", "chunked", scm.BWD_CHUNK_SMEM_TARGET, 10**9),
    ("fwd_chunked", "chunked", "chunked", scm.BWD_CHUNK_SMEM_TARGET, scm.BWD_TARGET_BLOCKS),
]


def set_variant(variant):
    _, fwd_mode, bwd_mode, smem, blocks = variant
    os.environ["ITNET_SCAN_FWD"], os.environ["ITNET_SCAN_BWD"] = fwd_mode, bwd_mode
    scm.BWD_CHUNK_SMEM_TARGET, scm.BWD_TARGET_BLOCKS = smem, blocks


def grads_of(leaves, opts, gy):
    y, _ = scan_cuda(**leaves, **opts)
    return torch.autograd.grad(y, list(leaves.values()), gy)


rows = []
CONFIGS = (("plain", False, B, N, D), ("all", True, B, N, D), ("b32n256d64", False, 32, 256, 64))
for name, all_opts, b, n, d in CONFIGS:
    kw, opts, plain_cfg, nbytes_cfg = inputs(all_opts, b, n, d)
    ok, errs = check(kw, opts)
    row = dict(config=name, B=b, N=n, D=d, correct=ok, **errs)
    if ok:
        with torch.no_grad():
            row["fwd_ms"] = best(lambda: scan_cuda(**kw, **opts), 20)
            row["fwd_call_ms"] = call_ms(lambda: scan_cuda(**kw, **opts), 20)
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in kw.items()}
        gy = torch.randn(b, n, d, device=dev, generator=g)

        def fwd_ckpt():
            return scan_cuda(**leaves, **opts)

        def fwd_bwd():
            y, _ = scan_cuda(**leaves, **opts)
            torch.autograd.backward(y, gy)
            for v in leaves.values():
                v.grad = None

        row["fwd_ckpt_ms"] = best(fwd_ckpt, 10)
        try:  # the chunked forward: outputs against the serial one, time
            set_variant(VARIANTS[-1])
            with torch.no_grad():
                yc, stc = scan_cuda(**kw, **opts)
                set_variant(VARIANTS[0])
                ys, sts = scan_cuda(**kw, **opts)
                row["fwd_diff_chunked"] = max(rel(yc, ys), rel(stc, sts))
                set_variant(VARIANTS[-1])
                row["fwd_ms_chunked"] = best(lambda: scan_cuda(**kw, **opts), 20)
                del yc, stc, ys, sts
        except Exception as exc:  # noqa: BLE001  (record it, time the rest)
            row["error_fwd_chunked"] = repr(exc)[:400]
        # every variant's float32 gradients against the serial kernels' (before issue 14)
        ref_grads = None
        for variant in sorted(VARIANTS, key=lambda v: v[0] != "serial"):
            label = variant[0]
            try:
                set_variant(variant)
                grads = grads_of(leaves, opts, gy)
                if ref_grads is None:
                    ref_grads = grads
                else:
                    row[f"grad_diff_{label}"] = max(rel(a, c) for a, c in zip(grads, ref_grads))
                del grads
                row[f"fwd_bwd_ms_{label}"] = best(fwd_bwd, 5)
                row[f"fwd_bwd_over_fwd_{label}"] = row[f"fwd_bwd_ms_{label}"] / row["fwd_ms"]
            except Exception as exc:  # noqa: BLE001
                row[f"error_{label}"] = repr(exc)[:400]
        set_variant(VARIANTS[0])
        del ref_grads
        if "fwd_bwd_ms_chunked" not in row:
            rows.append(row)
            print(json.dumps(row))
            continue
        row["fwd_bwd_ms"] = row["fwd_bwd_ms_chunked"]
        row["fwd_bwd_call_ms"] = call_ms(fwd_bwd, 5)
        row["roofline_ms"] = plain_cfg / bw * 1e3
        row["roofline_fraction"] = row["roofline_ms"] / row["fwd_ms"]
        row["own_bytes_fraction"] = nbytes_cfg / bw * 1e3 / row["fwd_ms"]
        row["fwd_bwd_over_fwd"] = row["fwd_bwd_ms"] / row["fwd_ms"]
        del leaves
    rows.append(row)
    print(json.dumps(row))
    del kw
    torch.cuda.empty_cache()

errors = {f"{r['config']}.{k}": v for r in rows for k, v in r.items() if k.startswith("error")}
out = dict(shape=dict(B=B, N=N, D=D, R=R, dtype="float32"), device=torch.cuda.get_device_name(),
           copy_bandwidth_tbs=bw / 1e12, roofline_ms=plain_bytes / bw * 1e3,
           plain_bytes=plain_bytes, sleep_primed=SLEEP,
           targets=dict(plain=0.5, all=0.35, fwd_bwd_over_fwd=3.0), rows=rows,
           variants=[v[0] for v in VARIANTS])
json.dump(out, open(sys.argv[1], "w"), indent=1)
for k, v in errors.items():
    print("ERROR", k, v)
sys.exit(1 if errors else 0)
EOF
TIMING_RC=${PIPESTATUS[0]}

echo "== summary"
timeout 30 python - "$OUT" "$PYTEST_RC" "$TIMING_RC" <<'EOF' 2>&1 | tee "$OUT/summary.txt"
import json, pathlib, sys
out, pytest_rc, timing_rc = pathlib.Path(sys.argv[1]), *sys.argv[2:]
p = out / "pytest_gpu.log"
log = [s for s in p.read_text().strip().splitlines() if s.strip()] if p.exists() else []
last = next((s for s in reversed(log) if "passed" in s or "failed" in s or "error" in s), "")
print(f"{'step':<26}{'exit':>6}  result")
print(f"{'pytest -m gpu tests/gpu':<26}{pytest_rc:>6}  {last or '(no output)'}")
print(f"{'scan timing':<26}{timing_rc:>6}")
t = out / "scan_timing.json"
if t.exists():
    d = json.loads(t.read_text())
    print(f"\nscan_cuda B=64 N=2048 D=128 R=16 float32 on {d['device']}: copy "
          f"{d['copy_bandwidth_tbs']:.2f} TB/s -> roofline {d['roofline_ms']:.4f} ms "
          f"(targets: plain >= 50%, all >= 35%, fwd+bwd <= 3x fwd)")
    print(f"{'config':<10}{'ok':>3}{'err f64':>9}{'fwd ms':>8}{'%roof':>7}{'%own':>6}"
          f"{'call ms':>9}{'fwd+ck':>8}{'fwd+bwd':>9}{'ratio':>7}{'call':>8}")
    for r in d["rows"]:
        def f(k, p=3):
            return f"{r[k]:.{p}f}" if k in r else "-"
        def pct(k):
            return f"{100 * r[k]:.1f}" if k in r else "-"
        print(f"{r['config']:<10}{'y' if r['correct'] else 'NO':>3}"
              f"{max(r['vs_f64_kernel'], r['vs_reference']):>9.1e}{f('fwd_ms', 4):>8}"
              f"{pct('roofline_fraction'):>7}{pct('own_bytes_fraction'):>6}{f('fwd_call_ms'):>9}"
              f"{f('fwd_ckpt_ms'):>8}{f('fwd_bwd_ms'):>9}{f('fwd_bwd_over_fwd', 2):>7}"
              f"{f('fwd_bwd_call_ms'):>8}")
    print("(fwd ms / fwd+ck / fwd+bwd: device time per call; call ms / call: one call as the "
          "caller sees it; %roof: plain bytes, %own: the config's own bytes; fwd+bwd: the "
          "default, chunked backward)")
    print("\nkernel variants: fwd+bwd ms (fwd+bwd / serial fwd); chunked = the default (serial "
          "forward, chunked backward), serial = both serial (before issue 14), fwd_chunked = both "
          "chunked; fwd chk: the chunked forward alone; diff: max relative difference of the "
          "float32 outputs / gradients from the serial kernels'")
    print(f"{'config':<10}{'fwd ms':>8}{'fwd chk':>8}"
          + "".join(f"{v:>22}" for v in d.get("variants", [])) + f"{'diff':>9}")
    for r in d["rows"]:
        if "fwd_ms" not in r:
            continue
        cells = "".join(
            f"{r[f'fwd_bwd_ms_{v}']:>13.3f} ({r[f'fwd_bwd_over_fwd_{v}']:5.2f})"
            if f"fwd_bwd_ms_{v}" in r
            else f"{'-':>22}"
            for v in d.get("variants", [])
        )
        diffs = [x for k, x in r.items() if k.startswith(("grad_diff_", "fwd_diff_"))]
        print(f"{r['config']:<10}{r['fwd_ms']:>8.4f}{r.get('fwd_ms_chunked', float('nan')):>8.4f}"
              f"{cells}{max(diffs, default=0.0):>9.1e}")
        for k, v in r.items():
            if k.startswith("error"):
                print(f"  {k}: {v}")
EOF
[ "$PYTEST_RC" = 0 ] && [ "$TIMING_RC" = 0 ]
