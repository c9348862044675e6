#!/usr/bin/env bash
# The published background-reliance measurements (README "Measured effects", the card), on
# the full real data: MNIST's 60,000 training digits (the named configs hold out their
# 5,000 validation digits; `default`, which has none, a seeded 10% of train) and its 10,000
# t10k digits for testing; Fashion-MNIST's 60,000 / 10,000 files. Every run: 3 seeds, at
# most $EPOCHS epochs, the best on validation kept (early stopping), on CPU unless DEVICE.
# Each step resumes: a report already asked the same is reused (--resume), so the set can be
# rebuilt across several sittings. Run from anywhere:
#   bash bench/science.sh [OUT] [SHARED_DATA]
# OUT defaults to bench/science, SHARED_DATA to ../shared/data (both relative to the
# repository, so no local path is recorded); the built data go to DATA
# (bench/results/full-data, shared with bench/full.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/science}
shared=${2:-../shared/data}
data=${DATA:-bench/results/full-data}
read -r -a tx <<< "${TEXMNIST:-texmnist}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
mkdir -p "$out"
common=(--seeds 0,1,2 --epochs "${EPOCHS:-8}" --no-progress --resume --device "${DEVICE:-cpu}")
stamp() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$1" >> "$out/times.log"; }
have() {  # is config $1 built in $data?
  python -c 'import json, sys; sys.exit(sys.argv[2] not in json.load(open(sys.argv[1]))["configs"])' \
    "$data/texmnist.json" "$1" 2>/dev/null
}

for c in default rho-0.99 rho-0.9 uncorrelated sizes; do
  have "$c" || "${tx[@]}" build --out "$data" --config "$c" --mnist-dir "$shared/mnist" \
    --dtd-dir "$shared/dtd" --no-download
done
have fashion || "${tx[@]}" build --out "$data" --config fashion \
  --fashion-mnist-dir "$shared/fashion-mnist" --dtd-dir "$shared/dtd" --no-download

stamp "start (a) rho"
# (a) BG-Gap against rho (default, rho-0.99, rho-0.9, uncorrelated); (d) the counterfactual
# metrics come with the reports of the configs that have test_counterfactual (rho-*).
"${tx[@]}" evaluate "$data" --sweep rho --model cnn --saliency-examples 500 "${common[@]}" \
  --out "$out/a-rho"
# (b) against digit scale and (c) position, one model per level of `sizes` (56 px canvas):
# the ResNet, whose global average pooling sees a 14 px digit wherever it sits, where the
# CNN's fixed 7x7 pooling grid gives a small or off-centre digit a few cells.
stamp "start (b) scale"
"${tx[@]}" evaluate "$data" --sweep scale --design per-level --model resnet \
  --saliency-examples 0 "${common[@]}" --out "$out/b-scale"
stamp "start (c) position"
"${tx[@]}" evaluate "$data" --sweep position --design per-level --model resnet \
  --saliency-examples 0 "${common[@]}" --out "$out/c-position"
stamp "start (e) fashion"
# (e) Fashion-MNIST against MNIST `default` of (a): same rule, full training sets.
"${tx[@]}" evaluate "$data" --config fashion --model cnn --saliency-examples 500 "${common[@]}" \
  --out "$out/e-fashion"
stamp "done"
