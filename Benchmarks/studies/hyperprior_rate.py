"""How many bits a learned hyperprior would save over a codec model's per-dimension tables (docs/NOTES.md).

The model's encoder means of a `vaecodec split` folder, in units of each transmitted dimension's typical posterior
sigma, are quantized at each rung's step multiplier as `compress` does (without its refinement). The baseline is
each dimension's histogram on the training half (pseudo-count 0.5, as the codec's tables), scored on the held-out
half. The hyperprior (Balle et al. 2018, with Minnen et al.'s mean): w = h_a(y) rounded at a learned per-rung step
and coded under a learned Gaussian per dimension; each symbol under a discretized Gaussian whose mean and scale
h_s(w) predicts. Trained on the training half with uniform noise in place of rounding, scored on the held-out half
with rounding: ideal code lengths in bits per image, side information included.

    python3 Benchmarks/studies/hyperprior_rate.py --model Sources/Codec/Models/faces-grid-b4.safetensors \
        --split SPLIT [--side 16] [--width 32] [--iterations 6000] [--per-rung 3,5,7]

--per-rung trains one hyperprior per listed rung; without it one hyperprior serves every rung.
"""
import argparse, json, math, os, struct, sys, time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "Training", "torch"))
import vaecodec_torch as vt

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
blob = open(a.model, "rb").read()
(length,) = struct.unpack("<Q", blob[:8])
header, body = json.loads(blob[8:8 + length]), 8 + length
def tensor(name, dtype):
    begin, end = header[name]["data_offsets"]
    return np.frombuffer(blob[body + begin:body + end], dtype=dtype).reshape(header[name]["shape"]).copy()
transmitted = tensor("codec.transmitted", "<i4").astype(np.int64)
multipliers = torch.from_numpy(tensor("codec.multipliers", "<f4"))
typical_sigma = torch.from_numpy(tensor("codec.steps", "<f4"))[0] / multipliers[0]
train, held_out, _, _ = vt.load_split(a.split)

@torch.no_grad()
def scaled_means(x):
    return torch.cat([model.encode(x[i:i + 500])[0] for i in range(0, len(x), 500)])[:, transmitted] / typical_sigma
y_train, y_held = scaled_means(train), scaled_means(held_out)
T, R = y_train.shape[1], len(multipliers)
Phi = lambda v: 0.5 * torch.erfc(-v / math.sqrt(2))

def table_bits(train_symbols, held_symbols):
    total = 0.0
    for d in range(T):
        low, high = int(train_symbols[:, d].min()), int(train_symbols[:, d].max())
        counts = np.bincount((train_symbols[:, d] - low).numpy(), minlength=high - low + 1) + 0.5
        index = (held_symbols[:, d] - low).numpy()
        inside = (index >= 0) & (index <= high - low)
        total += -np.log2(counts[index[inside]] / counts.sum()).sum() + 20 * (~inside).sum()
    return total / len(held_symbols)

class Hyperprior(nn.Module):
    def __init__(self):
        super().__init__()
        self.analysis = nn.Sequential(nn.Linear(T, a.width), nn.ReLU(), nn.Linear(a.width, a.side))
        self.synthesis = nn.Sequential(nn.Linear(a.side, a.width), nn.ReLU(), nn.Linear(a.width, 2 * T))
        self.side_log_scale = nn.Parameter(torch.zeros(a.side))
        self.log_side_step = nn.Parameter(torch.zeros(R))

    def bits(self, y, rung, noisy):
        """(symbol bits, side bits) per image; rung: [N] rung indices."""
        side_step = torch.exp(self.log_side_step[rung])[:, None]
        w = self.analysis(y) / side_step
        w = w + torch.rand_like(w) - 0.5 if noisy else torch.round(w)
        side_scale = torch.exp(self.side_log_scale) * 4 / side_step
        p_side = Phi((w + 0.5) / side_scale) - Phi((w - 0.5) / side_scale)
        mean, log_scale = self.synthesis(w * side_step).chunk(2, 1)
        step = multipliers[rung][:, None]
        u = y / step
        u = u + torch.rand_like(u) - 0.5 if noisy else torch.round(u)
        centre, scale = mean / step, torch.exp(log_scale).clamp_min(0.02) / step
        p = Phi((u + 0.5 - centre) / scale) - Phi((u - 0.5 - centre) / scale)
        return -torch.log2(p.clamp_min(1e-9)).sum(1), -torch.log2(p_side.clamp_min(1e-9)).sum(1)

def fit(rungs):
    net = Hyperprior()
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    for iteration in range(a.iterations):
        if iteration == a.iterations * 4 // 5:
            for group in optimizer.param_groups: group["lr"] = 1e-4
        rows = torch.randint(0, len(y_train), (128,))
        rung = torch.tensor(rungs)[torch.randint(0, len(rungs), (128,))]
        symbols, side = net.bits(y_train[rows], rung, True)
        loss = (symbols + side).mean()
        optimizer.zero_grad(); loss.backward(); optimizer.step()
    return net

def report(net, rung):
    baseline = table_bits(torch.round(y_train / multipliers[rung]).long(), torch.round(y_held / multipliers[rung]).long())
    with torch.no_grad():
        symbols, side = net.bits(y_held, torch.full((len(y_held),), rung), False)
    total = (symbols + side).mean().item()
    print(f"rung {rung} (step x{multipliers[rung]:.1f}): tables {baseline:.1f} bits/image, hyperprior {total:.1f} "
          f"(side {side.mean().item():.1f}): {100 * (total / baseline - 1):+.1f}%", flush=True)

start = time.time()
print(f"{a.model}: {T} transmitted dimensions, {len(y_train)} training / {len(y_held)} held-out images; "
      f"side {a.side}, width {a.width}, {a.iterations} iterations", flush=True)
if a.per_rung:
    for rung in [int(r) for r in a.per_rung.split(",")]:
        report(fit([rung]), rung)
else:
    net = fit(list(range(R)))
    print(f"one hyperprior for all rungs: {sum(p.numel() for p in net.parameters())} parameters", flush=True)
    for rung in range(R):
        report(net, rung)
print(f"{time.time() - start:.0f} s")
