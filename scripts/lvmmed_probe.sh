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
/usr/bin/python3 - "$RUN" "$OUT/encoder.safetensors" "$SRC/tools/fixtures" <<'PY'
import json, statistics, sys
sys.path.insert(0, sys.argv[3])
from safetensors_io import load, save
run, out = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(run + "/metrics.jsonl")]
by_epoch = {}
for r in rows:
    if r.get("event") == "train" and "loss" in r:
        by_epoch.setdefault(r["epoch"], []).append((r["loss"], r.get("matched", float("nan"))))
for e, v in sorted(by_epoch.items()):
    print("pretrain epoch %2d  loss %6.2f  matched %.3f" % (e, statistics.mean(x for x, _ in v), statistics.mean(m for _, m in v)))
w = load(run + "/checkpoints/model.safetensors")
save(out, {k[len("encoder."):]: v for k, v in w.items() if k.startswith("encoder.")})
PY
for which in pretrained random; do
    extra=""
    [ "$which" = pretrained ] && extra="encoder.weights=$OUT/encoder.safetensors"
    "$MEDFM" run "$SRC/configs/lvmmed/tiny_probe.yaml" --output "$OUT" name=probe_$which $extra >"$OUT/probe_$which.log" 2>&1
    dir=$(sed -n 's/^run directory: //p' "$OUT/probe_$which.log" | tail -1)
    /usr/bin/python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['metrics']; print('probe %-10s accuracy %.4f  balanced %.4f' % (sys.argv[2], m['accuracy']['mean'], m['balanced_accuracy']['mean']))" "$dir/summary.json" $which
done
