"""Times scipy.optimize.linear_sum_assignment on the instances that
bench_solvers wrote (DIR/lap_N.f32: 200 problems of N x N, f32) and writes
'N wall_seconds cpu_seconds objective_sum' lines to DIR/scipy.txt."""
import os
import sys
import time

import numpy as np
from scipy.optimize import linear_sum_assignment

BATCH = 200
d = sys.argv[1]
lines = []
for n in (16, 32, 64, 128, 256):
    c = np.fromfile(os.path.join(d, f"lap_{n}.f32"), dtype=np.float32).reshape(BATCH, n, n).astype(np.float64)
    best, best_cpu, obj = float("inf"), float("inf"), 0.0
    for rep in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        total = 0.0
        for b in range(BATCH):
            r, k = linear_sum_assignment(c[b])
            total += c[b][r, k].sum()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        obj = total
    lines.append(f"{n} {best:.9f} {best_cpu:.9f} {obj:.9f}")
    print(f"scipy N={n}: {best * 1e3:.3f} ms for {BATCH} problems", file=sys.stderr)
with open(os.path.join(d, "scipy.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
