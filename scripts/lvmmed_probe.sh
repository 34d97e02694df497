#!/bin/sh
# LVM-Med on a CPU budget, end to end: pretrain configs/lvmmed/tiny.yaml,
# then a linear probe on the frozen encoder against the same probe on a
# random-init encoder. Prints the pretraining loss curve (mean per epoch)
# and both probe accuracies.
#   scripts/lvmmed_probe.sh [BUILD_DIR] [OUT_DIR] [medfm run overrides for pretraining...]
set -eu
BUILD=${1:-build}; OUT=${2:-runs/lvmmed_probe}
shift 2 2>/dev/null || true
SRC=$(cd "$(dirname "$0")/.." && pwd)
MEDFM=$BUILD/bin/medfm
mkdir -p "$OUT"
"$MEDFM" run "$SRC/configs/lvmmed/tiny.yaml" --output "$OUT" "$@" >"$OUT/pretrain.log" 2>&1
RUN=$(sed -n 's/^run directory: //p' "$OUT/pretrain.log" | tail -1)
# Pretraining loss per logged step (the Hamming distance of the perturbed
# matching, 0..2*graph_nodes) and the share of pairs matched.
grep -E '^step ' "$OUT/pretrain.log" | sed 's/  ETA.*//' || true
for which in pretrained random; do
    extra=""
    [ "$which" = pretrained ] && extra="encoder.weights=$RUN/checkpoints/model.safetensors encoder.weights_prefix=encoder."
    "$MEDFM" run "$SRC/configs/lvmmed/tiny_probe.yaml" --output "$OUT" name=probe_$which $extra >"$OUT/probe_$which.log" 2>&1
    dir=$(sed -n 's/^run directory: //p' "$OUT/probe_$which.log" | tail -1)
    printf 'probe %-10s %s\n' "$which" "$(sed -n 's/^done in [^:]*: //p' "$OUT/probe_$which.log" | tail -1)"
done
