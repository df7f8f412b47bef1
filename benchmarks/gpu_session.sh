#!/usr/bin/env bash
# One call on a lent GPU machine: the kernel check, then PhysioNet 2012 through the public
# estimator (benchmarks/physionet_itnet.py --device cuda), seeds written as they finish.
# Needs, carried beside the checkout (git-ignored): .gpu_carry/polars-*.whl (the image has no
# polars) and .gpu_carry/physionet2012/ (set-a/b/c.tar.gz + split_tpatchgnn.json).
#   run: OUT=$OUT bash benchmarks/gpu_session.sh   [SEEDS="1 2 3 4 5" EPOCHS=10 SKIP_CHECK=1]
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT="${OUT:-$PWD/gpu_session_out}"
mkdir -p "$OUT"
SEEDS="${SEEDS:-1 2 3 4 5}"
EPOCHS="${EPOCHS:-10}"
T0=$(date +%s)
if [ -z "${SKIP_CHECK:-}" ]; then
  OUT="$OUT/check" bash benchmarks/gpu_check.sh 2>&1 | tail -40
fi
echo "== kernel check took $(( $(date +%s) - T0 )) s"
SITE=/tmp/itnet_site
rm -rf "$SITE"
pip install -q --no-deps --target "$SITE" .gpu_carry/polars-*.whl > "$OUT/pip.log" 2>&1
pip install -q --no-deps --no-build-isolation --target "$SITE" "$REPO" >> "$OUT/pip.log" 2>&1 \
  || { echo "project install failed"; tail -20 "$OUT/pip.log"; exit 3; }
echo "== installed in $(( $(date +%s) - T0 )) s"
cd /tmp  # not the checkout: its itnet_ts/ would shadow the installed package
PYTHONPATH="$SITE" python "$REPO/benchmarks/physionet_itnet.py" \
  --variant ${VARIANT:-base} --seeds $SEEDS --epochs "$EPOCHS" --threads 4 --device cuda \
  --data-dir "$REPO/.gpu_carry/physionet2012" --out "$OUT/physionet" 2>&1 | tee "$OUT/physionet.log"
echo "== total $(( $(date +%s) - T0 )) s"
