#!/usr/bin/python3
"""Reference for bench_loader: PNG decode + RandomResizedCrop(224) + flip +
colour jitter + normalise with PIL and numpy (torchvision's rules, written
out so torchvision is not needed), 1 process and 2 processes.
Prints 'pil workers=N <images/s>' and 'pil cpu <images per CPU-second>'."""
import math
import multiprocessing as mp
import os
import random
import sys
import time

import numpy as np
from PIL import Image, ImageEnhance

MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)


def rrc_box(w, h, rng, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    area = w * h
    for _ in range(10):
        a = area * rng.uniform(*scale)
        r = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(a * r))), int(round(math.sqrt(a / r)))
        if 0 < cw <= w and 0 < ch <= h:
            return rng.randint(0, w - cw), rng.randint(0, h - ch), cw, ch
    return 0, 0, w, h


def hue_shift(img, f):
    hsv = np.array(img.convert("HSV"))
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(f * 255)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def load(path, rng):
    img = Image.open(path).convert("RGB")
    x, y, w, h = rrc_box(img.width, img.height, rng)
    img = img.resize((224, 224), Image.BILINEAR, box=(x, y, x + w, y + h))
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    ops = [0, 1, 2, 3]
    rng.shuffle(ops)
    for o in ops:
        if o == 0:
            img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.6, 1.4))
        elif o == 1:
            img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.6, 1.4))
        elif o == 2:
            img = ImageEnhance.Color(img).enhance(rng.uniform(0.6, 1.4))
        else:
            img = hue_shift(img, rng.uniform(-0.1, 0.1))
    a = np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0
    return (a - MEAN) / STD


def work(args):
    paths, seed = args
    rng = random.Random(seed)
    return np.stack([load(p, rng) for p in paths]).shape[0]


def main():
    folder = sys.argv[1]
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    batches = [(paths[i:i + 32], i) for i in range(0, len(paths), 32)]
    best_cpu = 0
    for _ in range(3):
        c0 = time.process_time()
        n = sum(work(b) for b in batches)
        best_cpu = max(best_cpu, n / (time.process_time() - c0))
    print(f"pil cpu {best_cpu:.1f}")
    for workers in (1, 2):
        best = 0
        for _ in range(3):
            t0 = time.perf_counter()
            if workers == 1:
                n = sum(work(b) for b in batches)
            else:
                with mp.Pool(workers) as pool:
                    t0 = time.perf_counter()  # pool start-up not counted
                    n = sum(pool.map(work, batches))
            best = max(best, n / (time.perf_counter() - t0))
        print(f"pil workers={workers} {best:.1f}")


if __name__ == "__main__":
    main()
