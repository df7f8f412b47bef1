#!/usr/bin/env bash
# GPU check for a lent CUDA machine (H100, no network; the image has torch and cupy).
# Installs nothing.  Runs, with a time limit each, from the repository root:
#   1. the gpu-marked tests:        pytest -m gpu tests/gpu -q -x
#   2. a direct timing of the CUDA scan at the roofline shape B=64 N=2048 D=128 R=16 float32
#      (inputs generated on the GPU, checked against float64 before timing; CUDA events)
#   3. the kernel benchmark:        python benchmarks/kernels.py --device cuda --json ...
# Logs and JSON go to $OUT (default ./gpu_check_out); a short table is printed at the end.
# Usage:  OUT=/tmp/out bash benchmarks/gpu_check.sh        (about 5-8 minutes)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

{
  echo "date: $(date -u +%FT%TZ)   host: $(hostname)"
  (nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null \
    || echo "nvidia-smi: not available")
  python - <<'EOF'
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

echo "== 1. pytest -m gpu tests/gpu -q -x"
timeout 330 python -m pytest -m gpu tests/gpu -q -x -p no:cacheprovider -rs 2>&1 \
  | tee "$OUT/pytest_gpu.log"
PYTEST_RC=${PIPESTATUS[0]}

echo "== 2. scan_cuda timing at the roofline shape"
timeout 150 python - "$OUT/scan_cuda_timing.json" <<'EOF' 2>&1 | tee "$OUT/scan_cuda_timing.log"
import json, statistics, sys
import torch
from itnet_ts.gpu.scan_cuda import scan_cuda
from itnet_ts.ops.scan_reference import scan_reference

dev = torch.device("cuda")
B, N, D, R = 64, 2048, 128, 16
ROOF_BPS = 2.83e12  # measured H100 copy rate (ANCHORS.md)
g = torch.Generator(device=dev).manual_seed(0)


def inputs(omega=False, sel=False, kwn=False, skip=False):
    kw = dict(
        u=torch.randn(B, N, D, device=dev, generator=g),
        dtau=torch.rand(B, N, device=dev, generator=g),
        w=torch.rand(B, N, device=dev, generator=g) + 0.1,
        Bm=torch.randn(B, N, R, device=dev, generator=g),
        Cm=torch.randn(B, N, R, device=dev, generator=g) / 4,
        lam=torch.rand(D, R, device=dev, generator=g) + 0.05,
    )
    if omega:
        kw["omega"] = torch.randn(D, R, device=dev, generator=g)
    if sel:
        kw["sel"] = torch.rand(B, N, D, device=dev, generator=g) + 0.5
    if skip:
        kw["skip"] = torch.randn(D, device=dev, generator=g)
    return kw, dict(kwn=kwn)


def rel(a, b):
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


def check(kw, opts):
    """float32 kernel vs float64 reference on a prefix (2 series, 200 steps)."""
    y, st = scan_cuda(**kw, **opts)
    sub = {k: (v[:2, :200] if v.dim() >= 2 and v.shape[:2] == (B, N) else v).double()
           for k, v in kw.items()}
    yr, _ = scan_reference(**sub, **opts)
    err = rel(y[:2, :200], yr)
    ok = bool(torch.isfinite(y).all() and torch.isfinite(st).all() and err < 1e-4)
    return ok, err


def gpu_ms(fn, reps=30):
    """Median GPU time of fn() between CUDA events recorded right around it."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


roof_bytes = 4 * (2 * B * N * D + 2 * B * N * R + 2 * B * N)
roof_ms = roof_bytes / ROOF_BPS * 1e3
rows = []
for name, flags in [("plain", {}), ("omega", dict(omega=True)), ("sel", dict(sel=True)),
                    ("kwn", dict(kwn=True)), ("all", dict(omega=True, sel=True, kwn=True,
                                                         skip=True))]:
    kw, opts = inputs(**flags)
    ok, err = check(kw, opts)
    row = dict(config=name, correct=ok, rel_err=err)
    if ok:
        with torch.no_grad():
            row["fwd_ms"] = gpu_ms(lambda: scan_cuda(**kw, **opts))
        row["roofline_fraction"] = roof_ms / row["fwd_ms"]
        if name in ("plain", "all"):
            kwg = {k: v.clone().requires_grad_(True) for k, v in kw.items()}
            gy = torch.randn(B, N, D, device=dev, generator=g)
            row["fwd_ckpt_ms"] = gpu_ms(lambda: scan_cuda(**kwg, **opts), reps=10)

            def fwd_bwd():
                y, _ = scan_cuda(**kwg, **opts)
                torch.autograd.backward(y, gy)

            row["fwd_bwd_ms"] = gpu_ms(fwd_bwd, reps=10)
    rows.append(row)
    print(json.dumps(row))
out = dict(shape=dict(B=B, N=N, D=D, R=R, dtype="float32"), roofline_ms=roof_ms,
           target_fwd_ms=0.135, device=torch.cuda.get_device_name(), rows=rows)
json.dump(out, open(sys.argv[1], "w"), indent=1)
EOF
TIMING_RC=${PIPESTATUS[0]}

echo "== 3. python benchmarks/kernels.py --device cuda"
KERNELS_RC=skipped
if [ -f benchmarks/kernels.py ]; then
  timeout 240 python benchmarks/kernels.py --device cuda --json "$OUT/kernels_cuda.json" 2>&1 \
    | tee "$OUT/kernels_cuda.log"
  KERNELS_RC=${PIPESTATUS[0]}
else
  echo "benchmarks/kernels.py not found" | tee "$OUT/kernels_cuda.log"
fi

echo "== summary"
python - "$OUT" "$PYTEST_RC" "$TIMING_RC" "$KERNELS_RC" <<'EOF' 2>&1 | tee "$OUT/summary.txt"
import json, pathlib, sys
out, pytest_rc, timing_rc, kernels_rc = pathlib.Path(sys.argv[1]), *sys.argv[2:]
log = (out / "pytest_gpu.log").read_text().strip().splitlines() if (out / "pytest_gpu.log").exists() else []
print(f"{'step':<28}{'exit':>6}  result")
print(f"{'pytest -m gpu tests/gpu':<28}{pytest_rc:>6}  {log[-1] if log else '(no output)'}")
print(f"{'scan_cuda timing':<28}{timing_rc:>6}")
print(f"{'benchmarks/kernels.py':<28}{kernels_rc:>6}")
t = out / "scan_cuda_timing.json"
if t.exists():
    d = json.loads(t.read_text())
    print(f"\nscan_cuda B=64 N=2048 D=128 R=16 float32 on {d['device']}; roofline "
          f"{d['roofline_ms']:.4f} ms, target fwd <= {d['target_fwd_ms']} ms")
    print(f"{'config':<8}{'ok':>4}{'rel_err':>10}{'fwd ms':>9}{'%roof':>7}{'fwd+ckpt':>10}"
          f"{'fwd+bwd':>9}")
    for r in d["rows"]:
        f = lambda k, p=4: f"{r[k]:.{p}f}" if k in r else "-"  # noqa: E731
        pct = f"{100 * r['roofline_fraction']:.1f}" if "roofline_fraction" in r else "-"
        print(f"{r['config']:<8}{'y' if r['correct'] else 'NO':>4}{r['rel_err']:>10.1e}"
              f"{f('fwd_ms'):>9}{pct:>7}{f('fwd_ckpt_ms'):>10}{f('fwd_bwd_ms'):>9}")
k = out / "kernels_cuda.json"
if k.exists():
    try:
        d = json.loads(k.read_text())
    except ValueError as exc:
        print("kernels_cuda.json unreadable:", exc)
    else:
        recs = d if isinstance(d, list) else d.get("results", d.get("rows", [d]))
        print("\nbenchmarks/kernels.py (kernels_cuda.json):")
        for rec in recs[:40] if isinstance(recs, list) else [recs]:
            if isinstance(rec, dict):
                items = [f"{a}={b:.4g}" if isinstance(b, float) else f"{a}={b}"
                         for a, b in rec.items() if not isinstance(b, (dict, list))]
                print("  " + "  ".join(items[:9]))
            else:
                print("  ", rec)
EOF
[ "$PYTEST_RC" = 0 ] && [ "$TIMING_RC" = 0 ]
