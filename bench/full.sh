#!/usr/bin/env bash
# Full-scale runs of issue 20 on the full real MNIST (60,000 training digits, the 10,000 t10k
# digits for testing), in priority order. Every step is a `texmnist evaluate` matrix call, so
# finished cells (same settings, same data fingerprint) are reused: run it again to resume.
#   bash bench/full.sh                 # from the repository root
# Env: DATA (built folder, default bench/results/full-data), OUT (default bench/full),
# SHARED (default ../shared/data), EPOCHS (most epochs, default 6), SEEDS (default 0,1,2),
# TEXMNIST (the command, default texmnist). Paths stay relative so no local path is recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-bench/results/full-data}
out=${OUT:-bench/full}
shared=${SHARED:-../shared/data}
read -r -a tx <<< "${TEXMNIST:-texmnist}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
mkdir -p "$out"
common=(--epochs "${EPOCHS:-6}" --seeds "${SEEDS:-0,1,2}" --no-progress)
stamp() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$1" >> "$out/times.log"; }

if [ ! -f "$data/texmnist.json" ]; then
  stamp "build default,rho-0.9,uncorrelated"
  "${tx[@]}" build --config default,rho-0.9,uncorrelated --mnist-dir "$shared/mnist" \
    --dtd-dir "$shared/dtd" --out "$data" --no-download
fi
matrix() { stamp "start $*"; "${tx[@]}" evaluate "$data" "${common[@]}" "$@"; stamp "done $*"; }

# 1. ERM CNN on default.  2. ERM vs the conditional adversary where rho < 1.
matrix --configs default --methods erm --out "$out/matrix"
matrix --configs rho-0.9,uncorrelated --methods erm,bg-adversarial --out "$out/matrix"
# 3. The model table (cnn's cells are the matrix's): accuracy against reliance.
for model in mlp resnet; do
  matrix --model "$model" --configs default,rho-0.9 --methods erm --out "$out/models-$model"
done
# 4. The rest of the matrix, the cheapest methods first (one grid point per seed for dfr and
# balanced; two to six for the others, RRR's input gradients cost two passes a batch).
for method in dfr balanced bg-adversarial groupdro rrr jtt; do
  matrix --configs rho-0.9,uncorrelated,default --methods "$method" --out "$out/matrix"
done
# 5. The whole matrix again: every cell is reused; it writes matrix.json/.md/.png over all.
matrix --configs default,rho-0.9,uncorrelated --methods all --out "$out/matrix"
stamp "all done"
