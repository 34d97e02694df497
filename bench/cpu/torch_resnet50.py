"""ResNet-50 forward + backward at batch 8 in plain PyTorch (the same
layout as torchvision's, defined here because torchvision may be absent),
on 2 threads. Usage: torch_resnet50.py [size ...] (default 64 224).
Prints "torch resnet50 <size> <median wall s> <median CPU s>" per size."""
import os
import statistics
import sys
import time

import torch
import torch.nn as nn


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, blocks in enumerate([3, 4, 6, 3]):
            planes = 64 << i
            layer = []
            for b in range(blocks):
                layer.append(Bottleneck(inplanes, planes, 2 if b == 0 and i > 0 else 1))
                inplanes = planes * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, 1000)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    sizes = [int(s) for s in sys.argv[1:]] or [64, 224]
    runs = int(os.environ.get("MEDFM_BENCH_RUNS", "3"))
    # MEDFM_BENCH_DEVICE / MEDFM_BENCH_BATCH: the GPU variant (bench/gpu).
    device = torch.device(os.environ.get("MEDFM_BENCH_DEVICE", "cpu"))
    batch = int(os.environ.get("MEDFM_BENCH_BATCH", "8"))
    cuda = device.type == "cuda"
    # MEDFM_BENCH_PRECISION=bf16/f16: the forward under torch.autocast.
    lowp = {"f32": None, "": None, "bf16": torch.bfloat16, "f16": torch.float16}[
        os.environ.get("MEDFM_BENCH_PRECISION", "f32")]
    # MEDFM_BENCH_CUDNN_SEARCH=1: cuDNN's timed algorithm choice, as medfm's
    # MEDFM_CUDNN_SEARCH=1 (train.cudnn_search) on the other side.
    torch.backends.cudnn.benchmark = os.environ.get("MEDFM_BENCH_CUDNN_SEARCH", "0") == "1"
    # MEDFM_BENCH_CHANNELS_LAST=1: weights and input in torch.channels_last,
    # as medfm's mf_conv_set_channels_last (train.channels_last).
    cl = os.environ.get("MEDFM_BENCH_CHANNELS_LAST", "0") == "1"
    fmt = torch.channels_last if cl else torch.contiguous_format
    net = ResNet50().to(device, memory_format=fmt)
    for size in sizes:
        x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)

        def step():
            t0, c0 = time.perf_counter(), time.process_time()
            net.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=lowp, enabled=lowp is not None):
                loss = net(x).mean()
            loss.backward()
            if cuda:
                torch.cuda.synchronize()
            return time.perf_counter() - t0, time.process_time() - c0

        step()
        times = [step() for _ in range(runs)]
        wall = statistics.median(t for t, _ in times)
        cpu = statistics.median(c for _, c in times)
        extra = (f" peak_mib {torch.cuda.max_memory_allocated() / 2**20:.0f}"
                 f" res_mib {torch.cuda.max_memory_reserved() / 2**20:.0f}") if cuda else ""
        print(f"torch resnet50 {size} {wall:.4f} {cpu:.4f}{extra}", flush=True)


if __name__ == "__main__":
    main()
