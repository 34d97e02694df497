#!/usr/bin/env bash
# One LVM-Med pretraining step (ResNet-50, graphs of 16, forward + backward)
# in medfm and in the PyTorch reference (bench/cpu/torch_lvmmed_step.py), on
# 2 threads (on a GPU: every core) in the same run. Like for like is the
# first-order step (lap on both sides; PyTorch has no second-order solver);
# medfm's second-order (gm) step is printed beside it. Usage:
#   bench/cpu/run_lvmmed_compare.sh [BUILD] [images per view] [px]   (default: build 32 64)
# MEDFM_BENCH_DEVICE=cuda runs both on the GPU (bench/gpu/run_lvmmed_step.sh).
# MEDFM_BENCH_CHANNELS_LAST=1 runs both encoders channels-last (cuda: medfm's
# train.channels_last switch against torch.channels_last).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
images="${2:-32}"
px="${3:-64}"
device="${MEDFM_BENCH_DEVICE:-cpu}"
reps="${REPS:-3}"
# Two threads each on the CPU (like for like). On a GPU both sides keep their
# defaults (every core): there the CPU threads only run host-side work, such
# as the solvers (medfm: the batch of graphs in parallel; SciPy: one by one).
if [ "$device" = cpu ]; then
    export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 MEDFM_NUM_THREADS=2
fi
m="$("$build/bin/bench_lvmmed_compare" --device "$device" --images "$images" --px "$px" --reps "$reps" \
    --root "$here/../..")"
t="$(MEDFM_BENCH_DEVICE="$device" "${PYTHON:-/usr/bin/python3}" "$here/torch_lvmmed_step.py" "$images" "$px" "$reps")"
field() { awk -v w="$1" -v k="$2" '$1==w && $2==k' | awk -v f="$3" '{for(i=1;i<=NF;i++) if($i==f) print $(i+1)}'; }
m1=$(awk '$2=="lvmmed_first_order"{print $5}' <<<"$m")
m2=$(awk '$2=="lvmmed_second_order"{print $5}' <<<"$m")
t1=$(awk '$2=="lvmmed_first_order"{print $5}' <<<"$t")
mp=$(field medfm lvmmed_first_order peak_mib <<<"$m")
tp=$(field torch lvmmed_first_order peak_mib <<<"$t")
solver=$(field torch lvmmed_first_order solver <<<"$t")
awk -v n="$images" -v px="$px" -v d="$device" -v m1="$m1" -v m2="$m2" -v t1="$t1" -v mp="$mp" -v tp="$tp" \
    -v solver="$solver" -v cl="${MEDFM_BENCH_CHANNELS_LAST:-0}" -v thr="${MEDFM_NUM_THREADS:-$(nproc)} CPU threads" 'BEGIN {
  printf "LVM-Med step (ResNet-50, %d images x 2 views at %dx%d, %d graphs of 16) on %s%s, %s, best of the runs\n", n, px, px, n / 16, d, (cl == "1" ? ", channels-last" : ""), thr
  printf "first order (lap)   medfm %.4f s (%.1f img/s, peak %s MiB)   torch %.4f s (%.1f img/s, peak %s MiB, %s)\n", m1, 2 * n / m1, mp, t1, 2 * n / t1, tp, solver
  printf "                    throughput medfm/torch: %.2f\n", t1 / m1
  printf "second order (gm)   medfm %.4f s (%.1f img/s); no PyTorch counterpart\n", m2, 2 * n / m2 }'
mq=$(field medfm lvmmed_first_order req_mib <<<"$m")
mr=$(field medfm lvmmed_first_order res_mib <<<"$m")
tr=$(field torch lvmmed_first_order res_mib <<<"$t")
# (nothing on the CPU: medfm prints no requested or reserved figures there)
"$here/../gpu/peaks_line.sh" "$mq" "$tp" "$mr" "$tr"
