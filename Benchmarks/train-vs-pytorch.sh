#!/usr/bin/env bash
# Training speed and quality against PyTorch, in one run on one machine (this machine is noisy: only the
# ratios of numbers measured here, back to back, mean anything).
#   1. The paper's MNIST configuration (MLP 784-400-20, Bernoulli, Adam 1e-3, batch 128): test -ELBO after
#      epochs 1, 5, 10 and seconds per epoch, vaecodec then PyTorch's example VAE.
#   2. The 64x64 conv model (c=32, latent 128, batch 128): seconds per 10,000 images, both.
#   vaecodec's log also gives its training step's GFLOP/s next to a cblas_sgemm measured in the same process.
# Usage: Benchmarks/train-vs-pytorch.sh [PYTHON]   (PYTHON: an interpreter with torch; default: python3)
# Needs ../shared/datasets (MNIST and LFW) and a release build (make build).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
DATA=../shared/datasets
BIN=.build/release/vaecodec
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMP_NUM_THREADS=2

echo "== MNIST MLP 784-400-20, Bernoulli, 10 epochs =="
$BIN train --data $DATA/mnist --canvas 28 --arch mlp --hidden 400 --latent 20 --likelihood bernoulli \
    --epochs 10 --batch 128 --lr 1e-3 --out "$OUT/mnist.safetensors" 2>&1 | grep -E "^(reference|epoch [0-9]+:)" | tee "$OUT/swift.log"
$PY Benchmarks/reference/pytorch_vae.py mnist --epochs 10 --threads 2 2>/dev/null | tee "$OUT/torch.log"

echo "== conv c=32 latent 128 on 64x64, batch 128, 2 epochs of 5000 images =="
$BIN train --data $DATA/lfw --crop 110 --arch conv --hidden 32 --latent 128 --likelihood bernoulli \
    --epochs 2 --batch 128 --limit 5556 --val-fraction 0.1 --out "$OUT/conv.safetensors" 2>&1 | grep -E "^(reference|epoch [0-9]+:)" | tee "$OUT/swift-conv.log"
$PY Benchmarks/reference/pytorch_vae.py conv --epochs 2 --images 5000 --batch-size 128 --threads 2 2>/dev/null | tee "$OUT/torch-conv.log"

$PY - "$OUT" <<'PYEOF'
import json, re, sys
out = sys.argv[1]
def swift(path):
    rows = []
    for line in open(path):
        m = re.match(r"epoch (\d+): .*validation -ELBO ([\d.]+) .* ([\d.]+)s, (\d+) img/s(?:, ([\d.]+) GFLOP/s)?", line)
        if m: rows.append(dict(epoch=int(m[1]), elbo=float(m[2]), seconds=float(m[3]), ips=float(m[4]), gflops=float(m[5] or 0)))
    return rows
def sgemm(path):
    m = re.search(r"at ([\d.]+) GFLOP/s", open(path).read()); return float(m[1])
s, t = swift(f"{out}/swift.log"), [json.loads(l) for l in open(f"{out}/torch.log")]
print("\n| epoch | vaecodec -ELBO | PyTorch -ELBO | vaecodec s | PyTorch s | ratio |\n|---|---|---|---|---|---|")
for e in (1, 5, 10):
    a, b = s[e - 1], t[e - 1]
    print(f"| {e} | {a['elbo']:.2f} | {b['test_elbo']:.2f} | {a['seconds']:.2f} | {b['seconds']:.2f} | {a['seconds'] / b['seconds']:.2f} |")
ms, mt = sum(r['seconds'] for r in s) / len(s), sum(r['seconds'] for r in t) / len(t)
print(f"mean seconds per epoch: vaecodec {ms:.2f}, PyTorch {mt:.2f}, ratio {ms / mt:.2f}; "
      f"training step {s[-1]['gflops']:.0f} GFLOP/s = {s[-1]['gflops'] / sgemm(f'{out}/swift.log'):.2f} of sgemm")
sc, tc = swift(f"{out}/swift-conv.log"), [json.loads(l) for l in open(f"{out}/torch-conv.log")]
a, b = sc[-1]['ips'], tc[-1]['images_per_s']
print(f"conv 64x64: vaecodec {10000 / a:.1f} s per 10k images, PyTorch {10000 / b:.1f}, ratio {b / a:.2f}; "
      f"training step {sc[-1]['gflops']:.0f} GFLOP/s = {sc[-1]['gflops'] / sgemm(f'{out}/swift-conv.log'):.2f} of sgemm")
PYEOF
