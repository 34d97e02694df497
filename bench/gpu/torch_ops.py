"""PyTorch reference for bench/gpu/gpu_ops.c: times the same cases (shapes
read from `bench_gpu_ops --list`, so MEDFM_BENCH_SCALE=tiny applies to both)
with the same rules: loss = sum(y * r) for a fixed random r of y's shape
(cross_entropy: the mean loss itself), forward + backward, one warm-up,
the median of MEDFM_BENCH_RUNS (default 5) runs, each from the forward to
torch.cuda.synchronize() after the backward. Peak: torch.cuda.max_memory_allocated
after reset_peak_memory_stats once the inputs exist (0 on the CPU, which
keeps no such count). Prints "torch <case> <precision> <seconds> peak_mib <N>"
per case, and "# ..." notes (torch version, which SDPA backend each
attention case gets).

Environment as for bench_gpu_ops: MEDFM_BENCH_DEVICE (cuda, default, or
cpu), MEDFM_BENCH_PRECISION (f32, default, TF32 allowed as medfm does;
bf16: forward and loss under torch.autocast), MEDFM_BENCH_RUNS,
MEDFM_BENCH_SCALE.

usage: torch_ops.py BENCH_BIN [case ...]
"""
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


def parse(line):
    f = line.split()
    c = {"name": f[0], "kind": f[1]}
    for kv in f[2:]:
        k, v = kv.split("=")
        if k in ("x", "w"):
            c[k] = None if v == "none" else [int(d) for d in v.split(",")]
        else:
            c[k] = int(v)
    return c


def attention(q, k, v, bias):
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    # torch < 2.0 has no scaled_dot_product_attention: the same math
    # written out, softmax(q k^T * scale + bias) v, scale = 1/sqrt(D).
    s = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if bias is not None:
        s = s + bias
    return s.softmax(-1) @ v


def sdpa_backend(q, k, v, bias, lowp):
    """The backend torch's dispatcher picks for these inputs (under
    autocast the inputs and the float mask arrive in the autocast dtype),
    from torch._fused_sdp_choice; "unknown" where this torch cannot say."""
    if not hasattr(F, "scaled_dot_product_attention"):
        return "none (torch < 2.0: explicit softmax(q k^T * scale + bias) v)"
    try:
        args = [q, k, v, bias]
        if lowp is not None:
            args = [None if t is None else t.to(lowp) for t in args]
        choice = int(torch._fused_sdp_choice(*args[:3], attn_mask=args[3]))
        try:
            from torch.nn.attention import SDPBackend
        except ImportError:
            from torch.backends.cuda import SDPBackend
        for name in dir(SDPBackend):
            member = getattr(SDPBackend, name)
            if name.isupper() and not name.startswith("_"):
                try:
                    if int(member) == choice:
                        return name.lower()
                except (TypeError, ValueError):
                    pass
        return f"SDPBackend {choice}"
    except Exception as e:  # a private API: report, never fail the bench
        return f"unknown ({type(e).__name__})"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: torch_ops.py BENCH_BIN [case ...]")
    device = torch.device(os.environ.get("MEDFM_BENCH_DEVICE") or "cuda")
    cuda = device.type == "cuda"
    prec = os.environ.get("MEDFM_BENCH_PRECISION") or "f32"
    if prec not in ("f32", "bf16"):
        sys.exit(f"torch_ops.py: MEDFM_BENCH_PRECISION must be f32 or bf16, got '{prec}'")
    lowp = torch.bfloat16 if prec == "bf16" else None
    runs = int(os.environ.get("MEDFM_BENCH_RUNS") or "5")
    if runs <= 0:
        runs = 5
    # medfm's CUDA backend uses TF32 for f32 matmuls and convolutions by default.
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    lines = subprocess.run([sys.argv[1], "--list"], check=True, capture_output=True, text=True).stdout
    cases = [parse(line) for line in lines.splitlines() if line.strip()]
    wanted = sys.argv[2:]
    unknown = set(wanted) - {c["name"] for c in cases}
    if unknown:
        sys.exit(f"torch_ops.py: no case {sorted(unknown)} (see bench_gpu_ops --list)")
    print(f"# torch {torch.__version__} on {device}, {prec}", flush=True)
    torch.manual_seed(0)
    for c in cases:
        if wanted and c["name"] not in wanted:
            continue
        run_case(c, device, cuda, prec, lowp, runs)


def run_case(c, device, cuda, prec, lowp, runs):
    def leaf(shape):
        return (torch.rand(shape, device=device) - 0.5).requires_grad_()

    kind, x = c["kind"], leaf(c["x"])
    leaves, target = [x], None
    if kind in ("conv", "convt"):
        w = leaf(c["w"])
        leaves.append(w)
        nd = len(c["x"]) - 2
        if kind == "conv":
            conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
            fwd = lambda: conv(x, w, None, c["stride"], c["pad"], 1, c["groups"])
        else:
            conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
            fwd = lambda: conv(x, w, None, c["stride"], c["pad"], 0, c["groups"])
    elif kind == "attn":
        k, v = leaf(c["x"]), leaf(c["x"])
        bias = leaf(c["w"]) if c["w"] else None
        leaves += [k, v] + ([bias] if bias is not None else [])
        fwd = lambda: attention(x, k, v, bias)
        print(f"# torch {c['name']}: sdpa backend {sdpa_backend(x, k, v, bias, lowp)}", flush=True)
    elif kind == "ln":
        n = c["x"][-1]
        w, b = leaf([n]), leaf([n])
        leaves += [w, b]
        fwd = lambda: F.layer_norm(x, (n,), w, b, 1e-5)
    elif kind == "gn":
        w, b = leaf([c["x"][1]]), leaf([c["x"][1]])
        leaves += [w, b]
        fwd = lambda: F.group_norm(x, c["groups"], w, b, 1e-5)
    elif kind == "linear_gelu":
        w, b = leaf(c["w"]), leaf([c["w"][0]])
        leaves += [w, b]
        fwd = lambda: F.gelu(F.linear(x, w, b))
    elif kind == "ce":
        target = torch.randint(0, c["x"][1], (c["x"][0],), device=device)
        fwd = lambda: F.cross_entropy(x, target)
    else:
        sys.exit(f"torch_ops.py: {c['name']}: unknown kind '{kind}'")
    r = None
    if kind != "ce":
        with torch.no_grad():
            r = torch.rand(fwd().shape, device=device) - 0.5

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def run_once():
        for t in leaves:
            t.grad = None
        sync()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=lowp or torch.bfloat16, enabled=lowp is not None):
            y = fwd()
            loss = y if r is None else (y * r).sum()
        loss.backward()
        del y, loss
        sync()
        return time.perf_counter() - t0

    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    run_once()  # warm-up
    t = sorted(run_once() for _ in range(runs))[runs // 2]  # the upper median, as bench_gpu_ops
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else 0.0
    reserved = torch.cuda.max_memory_reserved(device) / 2**20 if cuda else 0.0
    print(f"torch {c['name']} {prec} {t:.6f} peak_mib {peak:.3f} res_mib {reserved:.3f}", flush=True)


if __name__ == "__main__":
    main()
