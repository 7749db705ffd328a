"""How many bits a learned hyperprior would save over a codec model's per-dimension tables (docs/NOTES.md).

The model's encoder means of a `vaecodec split` folder, scaled as Training/torch/hyperprior.py scales them, are
quantized at each rung's step multiplier as `compress` does (without its refinement). The baseline is each
dimension's histogram on the training half (pseudo-count 0.5, as the codec's tables), scored on the held-out half;
the hyperprior is hyperprior.py's, trained on the training half and scored on the held-out half with rounding. Both
are ideal code lengths in bits per image, side information included; the codec itself adds integer table centres
and 14-bit frequencies (`vaecodec bench` measures that).

    python3 Benchmarks/studies/hyperprior_rate.py --model Sources/Codec/Models/faces-grid-b4.safetensors \
        --split SPLIT [--side 16] [--width 32] [--iterations 6000] [--per-rung 3,5,7]

--per-rung trains one hyperprior per listed rung; without it one hyperprior serves every rung.
"""
import argparse, os, sys, time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "Training", "torch"))
import vaecodec_torch as vt
from hyperprior import codec_tensors, fit, scaled_means

a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
a.add_argument("--model", required=True)
a.add_argument("--split", required=True, help="a `vaecodec split` folder of the model's data")
a.add_argument("--side", type=int, default=16, help="side latents")
a.add_argument("--width", type=int, default=32, help="hidden units of h_a and h_s")
a.add_argument("--iterations", type=int, default=6000)
a.add_argument("--per-rung", help="comma-separated rungs, each with its own hyperprior")
a = a.parse_args()
torch.manual_seed(0)

model, _ = vt.load_model(a.model)
transmitted, multipliers, typical_sigma = codec_tensors(a.model)
train, held_out, _, _ = vt.load_split(a.split)
y_train, y_held = (scaled_means(model, x, transmitted, typical_sigma) for x in (train, held_out))


def table_bits(train_symbols, held_symbols):
    total = 0.0
    for d in range(train_symbols.shape[1]):
        low, high = int(train_symbols[:, d].min()), int(train_symbols[:, d].max())
        counts = np.bincount((train_symbols[:, d] - low).numpy(), minlength=high - low + 1) + 0.5
        index = (held_symbols[:, d] - low).numpy()
        inside = (index >= 0) & (index <= high - low)
        total += -np.log2(counts[index[inside]] / counts.sum()).sum() + 20 * (~inside).sum()
    return total / len(held_symbols)


def report(net, rung):
    baseline = table_bits(torch.round(y_train / multipliers[rung]).long(), torch.round(y_held / multipliers[rung]).long())
    with torch.no_grad():
        symbols, side = net.bits(y_held, multipliers, torch.full((len(y_held),), rung), False)
    total = (symbols + side).mean().item()
    print(f"rung {rung} (step x{multipliers[rung]:.1f}): tables {baseline:.1f} bits/image, hyperprior {total:.1f} "
          f"(side {side.mean().item():.1f}): {100 * (total / baseline - 1):+.1f}%", flush=True)


start = time.time()
print(f"{a.model}: {y_train.shape[1]} transmitted dimensions, {len(y_train)} training / {len(y_held)} held-out images; "
      f"side {a.side}, width {a.width}, {a.iterations} iterations", flush=True)
quiet = lambda line: None
if a.per_rung:
    for rung in [int(r) for r in a.per_rung.split(",")]:
        report(fit(y_train, multipliers, [rung], a.side, a.width, a.iterations, log=quiet), rung)
else:
    net = fit(y_train, multipliers, list(range(len(multipliers))), a.side, a.width, a.iterations, log=quiet)
    print(f"one hyperprior for all rungs: {sum(p.numel() for p in net.parameters())} parameters", flush=True)
    for rung in range(len(multipliers)):
        report(net, rung)
print(f"{time.time() - start:.0f} s")
