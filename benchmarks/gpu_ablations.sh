#!/usr/bin/env bash
# PhysioNet 2012 ablations on one lent GPU in one device call: every (variant, seed) of JOBS is
# one `benchmarks/physionet_itnet.py --device cuda` process, PARALLEL of them at a time on the
# one card (each step is launch-bound, so several processes share the GPU well). Runs still
# going at DEADLINE seconds are stopped; the table of what finished is printed either way and
# the run JSONs come back as one tarball. Needs .gpu_carry/ (see gpu_session.sh).
#   run: OUT=$OUT bash benchmarks/gpu_ablations.sh   [PARALLEL=10 DEADLINE=450 EPOCHS=10]
#   JOBS: "variant:seed ..." (default below: the issue-10 ablations, 3 seeds each)
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT="${OUT:-$PWD/gpu_ablations_out}"
mkdir -p "$OUT/logs"
EPOCHS="${EPOCHS:-10}"
PARALLEL="${PARALLEL:-10}"
DEADLINE="${DEADLINE:-450}"
RUNS=/tmp/itnet_ablations
T0=$(date +%s)
SITE=/tmp/itnet_site
rm -rf "$SITE" && mkdir -p "$RUNS"
pip install -q --no-deps --target "$SITE" .gpu_carry/polars-*.whl > "$OUT/pip.log" 2>&1
pip install -q --no-deps --no-build-isolation --target "$SITE" "$REPO" >> "$OUT/pip.log" 2>&1 \
  || { echo "project install failed"; tail -20 "$OUT/pip.log"; exit 3; }
echo "== installed in $(( $(date +%s) - T0 )) s; $(nvidia-smi --query-gpu=name --format=csv,noheader)"
DEFAULT_JOBS=""
for s in 1 2 3; do
  for v in b32-data-per-channel b32-data persistence-start kwn gap oscillatory selective \
           decoder-attention decoder-both; do
    DEFAULT_JOBS="$DEFAULT_JOBS $v:$s"
  done
done
JOBS="${JOBS:-$DEFAULT_JOBS b32-data-per-channel:4 b32-data-per-channel:5 b32-data:4 b32-data:5}"
cd /tmp  # not the checkout: its itnet_ts/ would shadow the installed package
one() {  # one (variant, seed): its own process and log
  local v=${1%%:*} s=${1##*:} rc
  PYTHONPATH="$SITE" python "$REPO/benchmarks/physionet_itnet.py" --variant "$v" --seeds "$s" \
    --epochs "$EPOCHS" --threads 1 --device "$DEVICE" --data-dir "$REPO/.gpu_carry/physionet2012" \
    --out "$RUNS" > "$OUT/logs/$v-s$s.log" 2>&1
  rc=$?
  echo "$(( $(date +%s) - T0 )) s: $v seed $s rc $rc: $(grep -h "seed $s:" "$OUT/logs/$v-s$s.log")"
}
export -f one
DEVICE="${DEVICE:-cuda}"
export SITE REPO EPOCHS RUNS OUT T0 DEVICE
echo $JOBS | tr ' ' '\n' | timeout "$(( DEADLINE - ($(date +%s) - T0) ))" \
  xargs -P "$PARALLEL" -I{} bash -c 'one {}'
pkill -f "benchmarks/physionet_itnet.py --variant" && sleep 2  # runs past the deadline
echo "== runs finished or stopped at $(( $(date +%s) - T0 )) s"
PYTHONPATH="$SITE" python "$REPO/benchmarks/physionet_itnet.py" --table --out "$RUNS" \
  | tee "$OUT/table.md"
tar czf "$OUT/runs.tgz" -C "$RUNS" .
echo "== total $(( $(date +%s) - T0 )) s"
