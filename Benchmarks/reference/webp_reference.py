#!/usr/bin/env python3
"""WebP (libwebp through Pillow, lossy, method 6) on the exact canvases of a vaecodec bench.

`vaecodec bench --export-noisy --out DIR` writes DIR/denoise-inputs/clean.u8 (N x side x side gray bytes, the
held-out canvases the rate-distortion study codes). This script codes every canvas at each WebP quality, decodes
it back to gray, and prints the mean whole-file bpp and PSNR per quality, then PSNR at the report's rates read on
the Pareto front the same way `vaecodec bench` reads its codecs (linear in log bpp; "—" below the smallest file).

Usage: pip install pillow numpy; python webp_reference.py DIR [--side 64] [--limit N]
"""
import argparse
import io
import math
import os

import numpy as np
from PIL import Image, features

RATES = [0.05, 0.1, 0.2, 0.3]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def at_rate(front, rate):
    for (r0, p0), (r1, p1) in zip(front, front[1:]):
        if r0 <= rate <= r1:
            t = (math.log(rate) - math.log(r0)) / (math.log(r1) - math.log(r0))
            return p0 + t * (p1 - p0)
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    clean = np.fromfile(os.path.join(args.dir, "denoise-inputs", "clean.u8"), dtype=np.uint8)
    clean = clean.reshape(-1, args.side, args.side)[: args.limit]
    print(f"WebP (libwebp {features.version('webp')}, lossy, method 6) on {len(clean)} images of {args.dir}")
    print("| quality | bpp | PSNR (dB) |")
    print("|---|---|---|")
    points = []
    for quality in range(0, 101, 5):
        bits, quality_db = 0.0, 0.0
        for image in clean:
            buffer = io.BytesIO()
            Image.fromarray(image, "L").save(buffer, "WEBP", quality=quality, method=6)
            decoded = np.array(Image.open(io.BytesIO(buffer.getvalue())).convert("L"))
            bits += 8 * len(buffer.getvalue()) / image.size
            quality_db += psnr(image, decoded)
        points.append((bits / len(clean), quality_db / len(clean)))
        print(f"| {quality} | {points[-1][0]:.4f} | {points[-1][1]:.2f} |", flush=True)
    front = []
    for rate, db in sorted(points):
        if not front or db > front[-1][1]:
            front.append((rate, db))
    cells = [at_rate(front, r) for r in RATES]
    print("\n| codec | " + " | ".join(f"{r} bpp" for r in RATES) + " |")
    print("|---|" + "---|" * len(RATES))
    print("| webp | " + " | ".join("—" if c is None else f"{c:.2f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
