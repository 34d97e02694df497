"""PyTorch reference for bench/cpu/bench_conv.c: times the same conv shapes
(read from `bench_conv --list`) with torch.set_num_threads(2), float32,
batch 8: forward (no grad) and forward + backward. Prints the same line
format: name count fwd_s fwdbwd_s (best of --reps after a warm-up).

usage: /usr/bin/python3 bench/cpu/torch_conv.py BENCH_BIN --px 64 [--reps 3] [--threads 2] [--cpu]
"""
import argparse
import subprocess
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("--px", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu", action="store_true", help="time process CPU time (use with --threads 1)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    clock = time.process_time if a.cpu else time.perf_counter
    lines = subprocess.run([a.bench, "--list", "--px", str(a.px)], check=True, capture_output=True,
                           text=True).stdout.split("\n")
    print(f"# torch {torch.__version__} conv, batch 8, {a.px} px, {torch.get_num_threads()} threads; "
          f"best of {a.reps} (seconds)")
    for line in filter(None, lines):
        name, cin, cout, k, s, p, count, hw = line.split()
        cin, cout, k, s, p, hw = map(int, (cin, cout, k, s, p, hw))
        x = torch.rand(8, cin, hw, hw) - 0.5
        w = (torch.rand(cout, cin, k, k) - 0.5).requires_grad_()
        if cin != 3:
            x.requires_grad_()
        with torch.no_grad():
            y = F.conv2d(x, w, None, s, p)
        gy = torch.rand_like(y) - 0.5
        fwd = fb = 1e30
        with torch.no_grad():
            for r in range(a.reps + 1):
                t0 = clock()
                F.conv2d(x, w, None, s, p)
                t = clock() - t0
                if r:
                    fwd = min(fwd, t)
        for r in range(a.reps + 1):
            x.grad = None
            w.grad = None
            t0 = clock()
            F.conv2d(x, w, None, s, p).backward(gy)
            t = clock() - t0
            if r:
                fb = min(fb, t)
        print(f"{name} {count} {fwd:.6f} {fb:.6f}", flush=True)


if __name__ == "__main__":
    main()
