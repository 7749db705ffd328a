"""How far vaecodec's face family falls when the lighting is not LFW's (issue 18's hard cases; docs/NOTES.md).

The bench's held-out face canvases (`vaecodec bench --export-held-out`) are relit five ways: as they are, brighter
(gamma 0.6), darker (gamma 1.6), at half contrast about each image's mean, and lit from one side (a left-to-right
ramp of 0.35 to 1.15). Each relit canvas is compressed by `vaecodec compress --model faces --bpp B` and decompressed,
and PSNR is measured against the relit canvas. At 0.5 bpp JPEG (Pillow's libjpeg-turbo, optimised tables) gets the
same whole-file budget: its best quality within the bytes vaecodec used. Each condition's images differ in difficulty
(half contrast is easier in PSNR for any codec), so the lead over JPEG is the comparison that carries across rows.

    python3 Benchmarks/studies/lighting.py --vaecodec .build/release/vaecodec --data ../shared/datasets/lfw \
        --work /tmp/lighting [--limit 100] [--rates 0.1,0.2,0.5]
"""
import argparse, io, json, os, subprocess

import numpy as np
from PIL import Image


def relight(x, condition):
    x = x.astype(np.float64)
    if condition == "as in LFW":
        y = x
    elif condition == "brighter (gamma 0.6)":
        y = 255 * (x / 255) ** 0.6
    elif condition == "darker (gamma 1.6)":
        y = 255 * (x / 255) ** 1.6
    elif condition == "half contrast":
        y = x.mean() + 0.5 * (x - x.mean())
    elif condition == "side light":
        y = x * np.linspace(0.35, 1.15, x.shape[1])[None, :]
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


CONDITIONS = ["as in LFW", "brighter (gamma 0.6)", "darker (gamma 1.6)", "half contrast", "side light"]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def jpeg_within(x, budget):
    """JPEG's best PSNR within `budget` bytes (whole file), or None when even quality 1 is larger."""
    best = None
    for quality in range(1, 96):
        buffer = io.BytesIO()
        Image.fromarray(x).save(buffer, format="JPEG", quality=quality, optimize=True)
        if buffer.tell() > budget:
            break
        best = psnr(x, np.array(Image.open(io.BytesIO(buffer.getvalue())).convert("L")))
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vaecodec", default="vaecodec")
    parser.add_argument("--data", required=True)
    parser.add_argument("--crop", default="110")
    parser.add_argument("--work", required=True)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--rates", default="0.1,0.2,0.5")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    held_out = os.path.join(args.work, "held-out")
    if not os.path.isdir(held_out):
        subprocess.run([args.vaecodec, "bench", "--data", args.data, "--crop", args.crop, "--model", "faces",
                        "--limit", str(args.limit), "--export-held-out", "--out", args.work, "-q"], check=True)
    names = sorted(n for n in os.listdir(held_out) if n.endswith(".png"))[: args.limit]
    print(f"{len(names)} held-out faces of {args.data}; PSNR in dB (mean over faces)")
    print("| lighting | " + " | ".join(f"vaecodec {r} bpp" for r in rates) + " | JPEG within vaecodec's bytes at 0.5 bpp | lead |")
    print("|---|" + "---|" * (len(rates) + 2))
    for condition in CONDITIONS:
        canvases = {n: relight(np.array(Image.open(os.path.join(held_out, n)).convert("L")), condition) for n in names}
        cells, lead = [], "—"
        for rate in rates:
            # One folder per condition and rate: NAME.png, then compress's NAME.vae and decompress's NAME.decoded.png.
            folder = os.path.join(args.work, condition.split(" ")[0], str(rate))
            os.makedirs(folder, exist_ok=True)
            for n in names:
                Image.fromarray(canvases[n]).save(os.path.join(folder, n))
            out = subprocess.run([args.vaecodec, "compress", *names, "--model", "faces", "--bpp", str(rate), "--json",
                                  "--force", "-q"], cwd=folder, check=True, capture_output=True, text=True).stdout
            sizes = {os.path.basename(r["input"]): r["bytes"] for r in map(json.loads, out.splitlines())}
            subprocess.run([args.vaecodec, "decompress", *[n[:-4] + ".vae" for n in names], "--force", "-q"],
                           cwd=folder, check=True)
            scores = [psnr(canvases[n], np.array(Image.open(os.path.join(folder, n[:-4] + ".decoded.png")).convert("L")))
                      for n in names]
            cells.append(f"{np.mean(scores):.2f}")
            if rate == 0.5:
                jpeg = [jpeg_within(canvases[n], sizes[n]) for n in names]
                reached = [(j, s) for j, s in zip(jpeg, scores) if j is not None]
                cells.append(f"{np.mean([j for j, _ in reached]):.2f} ({len(reached)} of {len(names)} fit)")
                lead = f"{np.mean([s - j for j, s in reached]):+.2f}"
        if 0.5 not in rates:
            cells.append("—")
        print(f"| {condition} | " + " | ".join(cells) + f" | {lead} |", flush=True)

if __name__ == "__main__":
    main()
