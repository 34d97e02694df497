"""PyTorch reference for bench/cpu/linear_gelu.c: F.gelu(F.linear(x, w, b))
in float32 at the given shapes (RxIxO: rows, in, out), forward (recording
the graph, as the medfm side does) and forward + backward of y.sum().
Prints "<shape> <fwd ms> <f+b ms>" (best of --reps after a warm-up).

usage: /usr/bin/python3 bench/cpu/torch_linear_gelu.py [--reps 5] [--threads 2] SHAPE...
"""
import argparse
import time

import torch
import torch.nn.functional as F


def best(fn, reps):
    fn()
    t = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shapes", nargs="+")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, best of {a.reps} (ms): fwd, f+b")
    for shape in a.shapes:
        r, i, o = map(int, shape.split("x"))
        x = (torch.rand(r, i) * 2 - 1).requires_grad_()
        w = ((torch.rand(o, i) * 2 - 1) * 0.05).requires_grad_()
        b = (torch.rand(o) * 2 - 1).requires_grad_()

        def fwd():
            return F.gelu(F.linear(x, w, b))

        def fb():
            for t in (x, w, b):
                t.grad = None
            fwd().sum().backward()

        print(f"{shape} {best(fwd, a.reps):.3f} {best(fb, a.reps):.3f}")


if __name__ == "__main__":
    main()
