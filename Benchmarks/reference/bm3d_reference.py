#!/usr/bin/env python3
"""BM3D (Dabov et al. 2007, the `bm3d` package from PyPI) on the exact inputs of vaecodec's denoising study.

`vaecodec bench --denoise --export-noisy --out DIR` writes DIR/denoise-inputs/clean.u8 and noisy-SIGMA.u8
(N x side x side bytes, the same seeded noise the study used, clipped to 0..255 and rounded). This script
denoises every noisy image with BM3D given the true sigma, rounds the result to 8 bits as the study does, and
prints one markdown table row per level: mean PSNR and seconds per image.

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
    print("| sigma | noisy PSNR | BM3D PSNR | s/image |")
    print("|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(folder, "noisy-*.u8")), key=lambda p: int(re.findall(r"noisy-(\d+)\.u8", p)[0])):
        sigma = int(re.findall(r"noisy-(\d+)\.u8", path)[0])
        noisy = np.fromfile(path, dtype=np.uint8).reshape(-1, args.side, args.side)[: len(clean)]
        start = time.perf_counter()
        out = [np.clip(np.rint(bm3d.bm3d(n.astype(np.float64), sigma_psd=sigma)), 0, 255) for n in noisy]
        seconds = (time.perf_counter() - start) / len(noisy)
        noisy_psnr = np.mean([psnr(c, n) for c, n in zip(clean, noisy)])
        bm3d_psnr = np.mean([psnr(c, o) for c, o in zip(clean, out)])
        print(f"| {sigma} | {noisy_psnr:.3f} | {bm3d_psnr:.3f} | {seconds:.3f} |", flush=True)


if __name__ == "__main__":
    main()
