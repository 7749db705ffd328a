#!/usr/bin/env bash
# The PyTorch trainer against `vaecodec train`, in one run on one machine: the same configuration (the faces family's
# base network: conv c=32, latent 128, learned global variance, --flip, batch 128, Adam 1e-3) for the same epochs on
# the same LFW split, PyTorch under torchrun with 2 processes (gloo, one thread each). Prints both trainers' images
# per second, then calibrates the PyTorch model and benches both on the same 300 held-out faces: the report's last
# section is the BD-PSNR of the PyTorch-trained model against the Swift-trained one.
# Usage: Benchmarks/torch-vs-swift.sh [EPOCHS] [OUT] [INIT]   (needs a release build, torch, and ../shared/datasets/lfw)
# INIT: a model file both trainers start from (--init-from), to compare the trainers without the draw of initial weights;
# write one with `python Training/torch/train.py --data OUT/lfw-split --epochs 0 --out INIT` (after a first run made OUT/lfw-split).
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-10}
OUT=${2:-torch-vs-swift}
BIN=${VAECODEC:-.build/release/vaecodec}
LFW=../shared/datasets/lfw
NET=(--arch conv --hidden 32 --latent 128 --likelihood gaussian-global --flip --epochs "$EPOCHS" --batch 128 --lr 1e-3 ${3:+--init-from "$3"})
mkdir -p "$OUT"
set -x
$BIN split --data $LFW --crop 110 --out "$OUT/lfw-split" --force
$BIN train --data $LFW --crop 110 "${NET[@]}" --out "$OUT/swift.safetensors" --force 2>&1 | grep -v "^epoch [0-9]*/" | tee "$OUT/swift.log"
torchrun --standalone --nproc_per_node 2 Training/torch/train.py --data "$OUT/lfw-split" "${NET[@]}" --out "$OUT/torch-vae.safetensors" --force \
    2>&1 | grep -v "^  epoch" | tee "$OUT/torch.log"
$BIN calibrate "$OUT/torch-vae.safetensors" --data $LFW -o "$OUT/torch.safetensors" --force
$BIN bench --data $LFW --crop 110 --effort fast --model "$OUT/torch.safetensors" --compare-model "$OUT/swift.safetensors" --out "$OUT/bench" --force
set +x
python3 - "$OUT" <<'PYEOF'
import re, sys
out = sys.argv[1]
def rates(path):
    return [float(m[1]) for m in re.finditer(r"^epoch \d+: .* (\d+) img/s", open(path).read(), re.M)]
def elbo(path):
    return [float(m[1]) for m in re.finditer(r"validation -ELBO (-?[\d.]+)", open(path).read())]
s, t = rates(f"{out}/swift.log"), rates(f"{out}/torch.log")
print(f"images per second, mean over {len(s)} epochs: vaecodec train {sum(s) / len(s):.0f}, PyTorch DDP x2 {sum(t) / len(t):.0f} "
      f"(ratio PyTorch / vaecodec {sum(t) / len(t) / (sum(s) / len(s)):.2f})")
print(f"final validation -ELBO: vaecodec train {elbo(f'{out}/swift.log')[-1]:.2f}, PyTorch {elbo(f'{out}/torch.log')[-1]:.2f} nats/image")
report = open(f"{out}/bench/report.md").read()
print(re.search(r"BD-PSNR over 0.05-0.3 bpp.*", report)[0])
PYEOF
