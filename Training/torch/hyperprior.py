"""Trains a hyperprior over a codec model's latents and adds it to the model file; `vaecodec calibrate` then turns it
into the codec's integer tables (docs/FORMAT.md, "Rungs with a hyperprior").

The encoder and decoder stay as they are. Each transmitted latent mean is scaled by its dimension's typical posterior
sigma (codec.steps over codec.multipliers) to y, and a rung with step multiplier m codes round(y / m). The
hyperprior (Balle et al. 2018, with the mean of Minnen et al. 2018): side latents w = h_a(y) are sent as round(w / q_r)
at a learned step q_r per rung, each under a Gaussian of learned scale; from them h_s predicts a mean and a scale for
every dimension, and the dimension is coded under that Gaussian discretized at the rung's step. Training minimises
the bits of both, with uniform noise in place of rounding (the rate part of the ELBO, with the encoder fixed), over
all rungs at once.

    python3 Training/torch/hyperprior.py --model faces-grid-b4.safetensors --split SPLIT --out faces-grid-b4-h.safetensors
    vaecodec calibrate faces-grid-b4-h.safetensors --data ../shared/datasets/lfw --crop 110 -o faces-grid-b4-hc.safetensors

The output is the input model file with the trained networks added as `hyperprior.*` tensors.
"""
import argparse, json, math, os, sys, time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
import vaecodec_torch as vt

Phi = lambda v: 0.5 * torch.erfc(-v / math.sqrt(2))
# The codec's bank of tables spans these deviations, in latent steps (Hyperprior.smallestScale and largestScale in
# Sources/Codec/Hyperprior.swift): h_s's scales are held to them in training, as the codec holds them.
SMALLEST_SCALE, LARGEST_SCALE = 0.08, 64.0
CENTRE_STEPS = 4  # a table's mean is a whole number of quarter symbols (Hyperprior.fittedCentreBits = 2)


def codec_tensors(path):
    """(transmitted dimensions, step multipliers, typical posterior sigmas) of a codec model file."""
    entries, _ = vt.read_entries(path)
    def tensor(name, dtype):
        if name not in entries:
            raise ValueError(f"{path}: has no codec tables; run `vaecodec calibrate` on it first")
        info, blob = entries[name]
        return np.frombuffer(blob, dtype=dtype).reshape(info["shape"]).copy()
    transmitted = tensor("codec.transmitted", "<i4").astype(np.int64)
    multipliers = torch.from_numpy(tensor("codec.multipliers", "<f4"))
    return transmitted, multipliers, torch.from_numpy(tensor("codec.steps", "<f4"))[0] / multipliers[0]


class Hyperprior(nn.Module):
    """state_dict keys: analysis.{0,2}.*, synthesis.{0,2}.*, side_log_scale, log_side_step: the file's hyperprior.* names."""

    def __init__(self, transmitted, side, width, rungs):
        super().__init__()
        self.analysis = nn.Sequential(nn.Linear(transmitted, width), nn.ReLU(), nn.Linear(width, side))
        self.synthesis = nn.Sequential(nn.Linear(side, width), nn.ReLU(), nn.Linear(width, 2 * transmitted))
        self.side_log_scale = nn.Parameter(torch.zeros(side))
        self.log_side_step = nn.Parameter(torch.zeros(rungs))

    def bits(self, y, multipliers, rung, noisy):
        """(symbol bits, side bits) per image of scaled means y at the rungs `rung` ([N] indices)."""
        side_step = torch.exp(self.log_side_step[rung])[:, None]
        w = self.analysis(y) / side_step
        w = w + torch.rand_like(w) - 0.5 if noisy else torch.round(w)
        side_scale = torch.exp(self.side_log_scale) * 4 / side_step
        p_side = Phi((w + 0.5) / side_scale) - Phi((w - 0.5) / side_scale)
        mean, log_scale = self.synthesis(w * side_step).chunk(2, 1)
        step = multipliers[rung][:, None]
        u = y / step
        u = u + torch.rand_like(u) - 0.5 if noisy else torch.round(u)
        # The codec centres each table on the mean rounded to a quarter of a symbol: train with that centre (its
        # gradient passed straight through the rounding).
        centre = mean / step
        centre = centre + (torch.round(centre * CENTRE_STEPS) / CENTRE_STEPS - centre).detach()
        scale = (torch.exp(log_scale) / step).clamp(SMALLEST_SCALE, LARGEST_SCALE)
        p = Phi((u + 0.5 - centre) / scale) - Phi((u - 0.5 - centre) / scale)
        return -torch.log2(p.clamp_min(1e-9)).sum(1), -torch.log2(p_side.clamp_min(1e-9)).sum(1)


def scaled_means(model, images, transmitted, typical_sigma):
    with torch.no_grad():
        mu = torch.cat([model.encode(images[i:i + 500])[0] for i in range(0, len(images), 500)])
    return mu[:, transmitted] / typical_sigma


def fit(y, multipliers, rungs, side, width, iterations, log=print):
    """A hyperprior trained on scaled means y at the listed rungs: Adam 1e-3, the last fifth at 1e-4, batch 128."""
    net = Hyperprior(y.shape[1], side, width, len(multipliers))
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    for iteration in range(iterations):
        if iteration == iterations * 4 // 5:
            for group in optimizer.param_groups:
                group["lr"] = 1e-4
        rows = torch.randint(0, len(y), (128,))
        rung = torch.tensor(rungs)[torch.randint(0, len(rungs), (128,))]
        symbols, side_bits = net.bits(y[rows], multipliers, rung, True)
        loss = (symbols + side_bits).mean()
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        if (iteration + 1) % 1000 == 0:
            log(f"iteration {iteration + 1}/{iterations}: {loss.item():.1f} bits per image (training batch)")
    return net


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--model", required=True, help="a codec model file (with codec tables)")
    a.add_argument("--split", required=True, help="the `vaecodec split` folder of the model's training data")
    a.add_argument("--out", required=True)
    a.add_argument("--side", type=int, default=16, help="side latents (default 16)")
    a.add_argument("--width", type=int, default=128, help="hidden units of h_a and h_s (default 128)")
    a.add_argument("--iterations", type=int, default=6000)
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--force", action="store_true", help="overwrite --out")
    a = a.parse_args()
    try:
        if os.path.exists(a.out) and not a.force:
            raise ValueError(f"{a.out}: already exists (use --force to overwrite)")
        if not (1 <= a.side <= 256 and 1 <= a.width <= 1024 and a.iterations >= 1):
            raise ValueError("--side must be 1...256, --width 1...1024 and --iterations at least 1")
        torch.manual_seed(a.seed)
        model, metadata = vt.load_model(a.model)
        transmitted, multipliers, typical_sigma = codec_tensors(a.model)
        train, held_out, _, _ = vt.load_split(a.split)
        if train.shape[1] != model.pixels:
            raise ValueError(f"{a.split}: its canvases have {train.shape[1]} pixels, the model's {model.pixels}")
    except OSError as e:
        sys.exit(f"hyperprior.py: {e.filename}: {e.strerror.lower()}")
    except ValueError as e:
        sys.exit(f"hyperprior.py: {e}")
    start = time.time()
    y, y_held = (scaled_means(model, x, transmitted, typical_sigma) for x in (train, held_out))
    net = fit(y, multipliers, list(range(len(multipliers))), a.side, a.width, a.iterations)
    with torch.no_grad():
        rows = [net.bits(y_held, multipliers, torch.full((len(y_held),), r), False) for r in range(len(multipliers))]
    held = [round((s + w).mean().item(), 1) for s, w in rows]
    print("held-out bits per image by rung (ideal, side included): " + ", ".join(map(str, held)))
    raw, _ = vt.read_entries(a.model)
    added = {"hyperprior." + k: v.detach().numpy() for k, v in net.state_dict().items()}
    added["hyperprior.multipliers"] = multipliers.numpy()  # the rungs' step multipliers log_side_step belongs to
    added["hyperprior.transmitted"] = transmitted.astype(np.int32)  # the latent dimensions analysis.0 reads, in order
    metadata["hyperprior"] = json.dumps({"side": a.side, "width": a.width, "iterations": a.iterations, "seed": a.seed,
                                         "heldOutBits": held, "seconds": round(time.time() - start)}, separators=(",", ":"))
    vt.write_atomically(vt.safetensors_bytes_raw(raw, added, metadata), a.out, overwrite=a.force)
    print(f"wrote {a.out} ({time.time() - start:.0f} s); now run `vaecodec calibrate {a.out} --data DATA -o CODEC.safetensors`")


if __name__ == "__main__":
    main()
