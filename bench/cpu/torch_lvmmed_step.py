"""One LVM-Med pretraining step (forward + backward, no optimiser) written
in plain PyTorch the way a PyTorch user would write it, as the reference
side of bench/cpu/run_lvmmed_compare.sh and bench/gpu/run_lvmmed_step.sh.

The same step as medfm's lvmmed_pretrain task in its first-order setting
(task.second_order=false, solver lap): ResNet-50 on both views in one pass
-> average pool -> linear projector 2048 -> 128 -> graphs of 16 -> kNN
graphs (k = 5) -> a 2-layer GCN (width 128) over D^-1/2 (A + I) D^-1/2 ->
vertex affinity 0.8 global cosine + 0.2 (local(s, t) + local(t, s)^T) from
the layer4 maps (partner cell by position and by feature) -> IMLE with
Gumbel noise around an exact linear assignment solved on the host per
graph (scipy's linear_sum_assignment, as BB-GM style code does), lambda 80
-> Hamming loss against the identity. PyTorch has no second-order graph
matching solver, so only the first-order step is compared like for like.

Usage: torch_lvmmed_step.py IMAGES PX [REPS]   (images per view)
Env: MEDFM_BENCH_DEVICE (cpu | cuda), threads: 2 on the CPU.
Prints "torch lvmmed_first_order IMAGES PX <best wall s> <best cpu s> peak_mib X"."""
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet50 import ResNet50  # noqa: E402

try:
    from scipy.optimize import linear_sum_assignment
except ImportError:  # the GPU machine may lack scipy: a plain O(n^3) Hungarian
    linear_sum_assignment = None

NODES, K, LAMBDA, ALPHA, TAU = 16, 5, 80.0, 0.8, 1.0


def hungarian(c):
    """Rows -> columns minimising c (n x n), shortest augmenting paths."""
    n = c.shape[0]
    u, v = np.zeros(n + 1), np.zeros(n + 1)
    p, way = np.zeros(n + 1, dtype=int), np.zeros(n + 1, dtype=int)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = np.full(n + 1, np.inf), np.zeros(n + 1, dtype=bool)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], np.inf, 0
            for j in range(1, n + 1):
                if not used[j]:
                    cur = c[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    cols = np.zeros(n, dtype=int)
    for j in range(1, n + 1):
        cols[p[j] - 1] = j - 1
    return np.arange(n), cols


def solve(costs):
    """Batched exact assignment on the host: (G, n, n) -> 0/1 (G, n, n)."""
    c = costs.detach().double().cpu().numpy()
    x = np.zeros_like(c)
    for g in range(c.shape[0]):
        r, k = (linear_sum_assignment or hungarian)(c[g])
        x[g, r, k] = 1
    return torch.from_numpy(x).to(costs.device, costs.dtype)


class Imle(torch.autograd.Function):
    """Perturb-and-MAP forward, re-solve at costs + lambda * grad backward."""

    @staticmethod
    def forward(ctx, costs, noise):
        perturbed = costs + noise
        x = solve(perturbed)
        ctx.save_for_backward(perturbed, x)
        return x

    @staticmethod
    def backward(ctx, g):
        perturbed, x = ctx.saved_tensors
        return (solve(perturbed + LAMBDA * g) - x) / LAMBDA, None


def knn_propagation(z):
    """kNN graph (k = K) per graph of z (G, n, F) -> D^-1/2 (A + I) D^-1/2."""
    with torch.no_grad():
        d = torch.cdist(z, z)
        d.diagonal(dim1=1, dim2=2).fill_(float("inf"))
        nbr = d.topk(K, dim=2, largest=False).indices
        a = torch.zeros_like(d).scatter_(2, nbr, 1.0)
        a = ((a + a.transpose(1, 2)) > 0).to(z.dtype) + torch.eye(z.shape[1], device=z.device, dtype=z.dtype)
        dinv = a.sum(2).rsqrt()
        return dinv[:, :, None] * a * dinv[:, None, :]


def local_affinity(ys, ps, yt, pt):
    """ys, yt (G, n, D, P) maps, ps, pt (G, n, P, 2) positions -> (G, n, n)."""
    G, n, D, P = ys.shape
    cs, ct = ys.permute(0, 1, 3, 2).reshape(G, n * P, D), yt.permute(0, 1, 3, 2).reshape(G, n * P, D)
    cos = torch.bmm(F.normalize(cs, dim=2, eps=1e-8), F.normalize(ct, dim=2, eps=1e-8).transpose(1, 2))
    cos = cos.view(G, n, P, n, P)

    def nearest(a, b):
        with torch.no_grad():
            d = (b * b).sum(2)[:, None, :] - 2 * torch.bmm(a, b.transpose(1, 2))
            return d.view(G, n, P, n, P).argmin(4, keepdim=True)

    def top_mean(idx):
        return cos.gather(4, idx).squeeze(4).permute(0, 1, 3, 2).mean(3)

    pos = nearest(ps.reshape(G, n * P, 2), pt.reshape(G, n * P, 2))
    feat = nearest(cs, ct)
    return 0.5 * (top_mean(pos) + top_mean(feat))


class LvmMed(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = ResNet50()
        del self.encoder.fc
        self.projector = nn.Linear(2048, 128)
        self.gcn = nn.ModuleList([nn.Linear(128, 128), nn.Linear(128, 128)])

    def features(self, x):
        e = self.encoder
        x = e.maxpool(e.relu(e.bn1(e.conv1(x))))
        y = e.layer4(e.layer3(e.layer2(e.layer1(x))))
        return y, torch.flatten(e.avgpool(y), 1)

    def gcn_forward(self, z):
        prop = knn_propagation(z)
        h = F.relu(self.gcn[0](torch.bmm(prop, z)))
        return self.gcn[1](torch.bmm(prop, h))

    def step(self, views, pos):
        B = views[0].shape[0]
        G = B // NODES
        y, pooled = self.features(torch.cat(views, 0))
        z = self.projector(pooled)
        hs = self.gcn_forward(z[:G * NODES].view(G, NODES, -1))
        ht = self.gcn_forward(z[B:B + G * NODES].view(G, NODES, -1))
        glo = torch.bmm(F.normalize(hs, dim=2, eps=1e-8), F.normalize(ht, dim=2, eps=1e-8).transpose(1, 2))
        D, R, S = y.shape[1], y.shape[2], y.shape[3]
        ymap = y.reshape(2 * B, D, R * S)
        ys, yt = ymap[:G * NODES].view(G, NODES, D, -1), ymap[B:B + G * NODES].view(G, NODES, D, -1)
        loc = local_affinity(ys, pos[0], yt, pos[1]) + local_affinity(yt, pos[1], ys, pos[0]).transpose(1, 2)
        affinity = ALPHA * glo + (1 - ALPHA) * loc
        u = torch.rand_like(affinity).clamp_(1e-12, 1 - 1e-12)
        noise = TAU * torch.log(-torch.log(u))  # minus a Gumbel draw
        x = Imle.apply(-affinity, noise)
        target = torch.eye(NODES, device=x.device, dtype=x.dtype).expand_as(x)
        return (x + target - 2 * x * target).sum((1, 2)).mean()


def positions(B, R, S, px, device):
    """Cell centres of identity-mapped views (as the medfm bench's coords)."""
    r = (torch.arange(R, dtype=torch.float64) + 0.5) * px / R - 0.5
    c = (torch.arange(S, dtype=torch.float64) + 0.5) * px / S - 0.5
    yy, xx = torch.meshgrid(r, c, indexing="ij")
    p = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1).float()
    G = B // NODES
    return p.to(device).expand(G, NODES, R * S, 2).contiguous()


def main():
    images, px = int(sys.argv[1]), int(sys.argv[2])
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    torch.set_num_threads(2)
    torch.manual_seed(0)
    device = torch.device(os.environ.get("MEDFM_BENCH_DEVICE", "cpu"))
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    # MEDFM_BENCH_CHANNELS_LAST=1: weights and views in torch.channels_last
    # (medfm's side sets its channels-last switch).
    cl = os.environ.get("MEDFM_BENCH_CHANNELS_LAST", "0") == "1"
    fmt = torch.channels_last if cl else torch.contiguous_format
    model = LvmMed().to(device, memory_format=fmt).train()
    views = [torch.randn(images, 3, px, px, device=device).contiguous(memory_format=fmt) for _ in range(2)]
    side = -(-px // 32)  # layer4 map side (stride 32, rounded up)
    pos = [positions(images, side, side, px, device)] * 2
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    best, best_cpu = float("inf"), float("inf")
    for r in range(reps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        model.zero_grad(set_to_none=True)
        model.step(views, pos).backward()
        if cuda:
            torch.cuda.synchronize()
        if r:  # the first step warms up
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else float("nan")
    reserved = torch.cuda.max_memory_reserved(device) / 2**20 if cuda else float("nan")
    solver = "scipy" if linear_sum_assignment else "python-hungarian"
    print(f"torch lvmmed_first_order {images} {px} {best:.4f} {best_cpu:.4f} peak_mib {peak:.0f} res_mib {reserved:.0f} solver {solver}",
          flush=True)


if __name__ == "__main__":
    main()
