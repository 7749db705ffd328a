#!/usr/bin/env python3
"""BM3D (Dabov et al. 2007, the `bm3d` package from PyPI) on the exact inputs of vaecodec's denoising study.

`vaecodec bench --denoise --export-noisy --out DIR` writes DIR/denoise-inputs/clean.u8, noisy-SIGMA.u8 and
noisy-SIGMA-qQUALITY.u8 (N x side x side bytes: the same seeded noise the study used, clipped to 0..255 and rounded,
and those images saved as JPEG at QUALITY and decoded). This script denoises every noisy image with BM3D, rounds the
result to 8 bits as the study does, and prints one markdown table row per input: mean PSNR and seconds per image.
BM3D is given the true sigma for Gaussian noise. For noise saved as JPEG, which is no longer white, it is given its
best sigma: the multiple of the true one (0.3 to 1.2) with the best mean PSNR on the first 20 images.

Usage: pip install bm3d numpy; python bm3d_reference.py DIR [--side 64] [--limit N]
"""
import argparse
import glob
import os
import re
import time
from importlib.metadata import version

import numpy as np
import bm3d


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    folder = os.path.join(args.dir, "denoise-inputs")
    clean = np.fromfile(os.path.join(folder, "clean.u8"), dtype=np.uint8).reshape(-1, args.side, args.side)
    if args.limit:
        clean = clean[: args.limit]
    print(f"BM3D (bm3d {version('bm3d')}) on {len(clean)} images of {args.dir}")
    print("| sigma | JPEG quality | noisy PSNR | BM3D sigma | BM3D PSNR | s/image |")
    print("|---|---|---|---|---|---|")
    pattern = re.compile(r"noisy-(\d+)(?:-q(\d+))?\.u8$")
    inputs = [(int(m[1]), int(m[2]) if m[2] else None, path)
              for path in glob.glob(os.path.join(folder, "noisy-*.u8")) if (m := pattern.search(path))]
    for sigma, quality, path in sorted(inputs, key=lambda t: (t[0], -(t[1] or 101))):
        noisy = np.fromfile(path, dtype=np.uint8).reshape(-1, args.side, args.side)[: len(clean)]

        def denoise(images, s):
            return [np.clip(np.rint(bm3d.bm3d(n.astype(np.float64), sigma_psd=s)), 0, 255) for n in images]

        given = sigma
        if quality is not None:
            tuning = range(min(20, len(noisy)))
            scores = {m: np.mean([psnr(clean[i], o) for i, o in zip(tuning, denoise(noisy[list(tuning)], m * sigma))])
                      for m in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)}
            given = max(scores, key=scores.get) * sigma
        start = time.perf_counter()
        out = denoise(noisy, given)
        seconds = (time.perf_counter() - start) / len(noisy)
        noisy_psnr = np.mean([psnr(c, n) for c, n in zip(clean, noisy)])
        bm3d_psnr = np.mean([psnr(c, o) for c, o in zip(clean, out)])
        print(f"| {sigma} | {quality or '-'} | {noisy_psnr:.3f} | {given:g} | {bm3d_psnr:.3f} | {seconds:.3f} |", flush=True)

if __name__ == "__main__":
    main()
