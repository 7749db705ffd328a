#!/usr/bin/env python3
"""CompressAI's learned codecs trained and measured on vaecodec's canvases: the learned-codec anchor of the benches.

Trains CompressAI's bmshj2018-factorized and bmshj2018-hyperprior (Balle et al. 2018) and mbt2018-mean (Minnen et al.
2018), made gray (one channel in and out), on the training canvases of a `vaecodec split` folder, at several lambdas.
Then it codes the held-out canvases of a `vaecodec bench --export-noisy --out DIR` (DIR/denoise-inputs/clean.u8, the
images the rate-distortion study codes) through CompressAI's own entropy coder. Each file counts its real string
bytes plus 2 bytes of shape header. It writes DIR/compressai/points.csv (image,codec,setting,bytes) and the decoded
canvases DIR/compressai/CODEC_SETTING.u8. `vaecodec bench --reference DIR/compressai/points.csv` measures PSNR and
SSIM of those canvases with its own metrics, draws each model's curve, and reports vaecodec's BD-rate against each.

Usage: pip install compressai==1.2.8
       python compressai_reference.py --split SPLIT --bench DIR --work WORK [--models ...] [--lambdas ...] [--epochs E]
Training resumes: each (model, lambda) keeps WORK/MODEL-LAMBDA.checkpoint.pt, written atomically after every epoch,
and a run with the same --work continues where the last one stopped (the coding step runs once all are trained).
The split's held-out canvases after the ones the bench measures (its first --limit) are the validation set: the script
prints each epoch's validation loss, bpp and PSNR there, so lambdas can be chosen without looking at the bench's images.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
from compressai.losses import RateDistortionLoss
from compressai.models import FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior
from compressai.layers import GDN  # noqa: F401  (the models' layers; imported so a missing install fails here)
from compressai.models.utils import conv, deconv

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Training", "torch"))
import vaecodec_torch as vt  # noqa: E402  (the split reader and atomic writes of the PyTorch trainer)

# Each architecture at channel widths for 64x64 canvases: four stride-2 analysis layers leave a 4x4 grid of M latents,
# and the hyper-analysis two more, a 1x1 grid of N. CompressAI's image models use N=128, M=192 (320 for mbt2018-mean)
# on 256x256 crops of photographs; a 64x64 gray canvas has 1/48 of those samples.
MODELS = {
    "bmshj2018-factorized": (FactorizedPrior, 64, 96),
    "bmshj2018-hyperprior": (ScaleHyperprior, 64, 96),
    "mbt2018-mean": (MeanScaleHyperprior, 64, 96),
}
HEADER_BYTES = 2  # the shape of the latent grid, as CompressAI's own codec example stores it


def gray(model_class, n, m):
    """A CompressAI model whose analysis takes one channel and whose synthesis gives one."""
    model = model_class(n, m)
    model.g_a[0] = conv(1, n)
    model.g_s[-1] = deconv(n, 1)
    return model


def parameter_groups(model):
    """CompressAI's two optimisers: the network, and the entropy bottleneck's quantiles (trained by aux_loss)."""
    main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles") and p.requires_grad]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles") and p.requires_grad]
    return main, aux


def evaluate(model, criterion, images, side):
    """Validation loss, bpp (the likelihoods' estimate) and PSNR of the noiseless-quantised reconstruction."""
    model.eval()
    loss = bpp = mse = 0.0
    with torch.no_grad():
        for batch in images.split(256):
            x = batch.view(-1, 1, side, side)
            out = criterion(model(x), x)
            loss += out["loss"].item() * len(batch)
            bpp += out["bpp_loss"].item() * len(batch)
            mse += out["mse_loss"].item() * len(batch)
    n = len(images)
    return loss / n, bpp / n, 10 * math.log10(1 / max(mse / n, 1e-12))


def train_one(name, lmbda, a, train, held_out, side):
    """Trains one (model, lambda) to --epochs, resuming from its checkpoint; returns the trained model."""
    model_class, n, m = MODELS[name]
    torch.manual_seed(a.seed)
    model = gray(model_class, n, m)
    main, aux = parameter_groups(model)
    optimizer, aux_optimizer = torch.optim.Adam(main, lr=a.lr), torch.optim.Adam(aux, lr=1e-3)
    criterion = RateDistortionLoss(lmbda=lmbda)
    path = os.path.join(a.work, f"{name}-{lmbda:g}.checkpoint.pt")
    epoch, history = 0, []
    if os.path.exists(path):
        state = torch.load(path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        aux_optimizer.load_state_dict(state["aux_optimizer"])
        epoch, history = state["epoch"], state["history"]
    while epoch < a.epochs:
        epoch += 1
        # The last tenth of the epochs at a tenth of the rate, as vaecodec's face models end.
        for group in optimizer.param_groups:
            group["lr"] = a.lr * (0.1 if epoch > math.ceil(0.9 * a.epochs) else 1)
        model.train()
        generator = torch.Generator().manual_seed(a.seed * 1_000_003 + epoch)
        order = torch.randperm(len(train), generator=generator)
        started, seen = time.perf_counter(), 0
        for indices in order.split(a.batch):
            x = vt.augment(train[indices], side, a.flip, 0, generator).view(-1, 1, side, side)
            optimizer.zero_grad()
            aux_optimizer.zero_grad()
            out = criterion(model(x), x)
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(main, 1.0)
            optimizer.step()
            model.aux_loss().backward()
            aux_optimizer.step()
            seen += len(indices)
        seconds = time.perf_counter() - started
        loss, bpp, psnr = evaluate(model, criterion, held_out, side)
        history.append({"epoch": epoch, "validationLoss": loss, "validationBpp": bpp, "validationPSNR": psnr,
                        "seconds": seconds, "imagesPerSecond": seen / seconds})
        temporary = f"{path}.tmp-{os.getpid()}"
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "aux_optimizer": aux_optimizer.state_dict(), "epoch": epoch, "history": history}, temporary)
        os.replace(temporary, path)
        print(f"{name} lambda {lmbda:g} epoch {epoch}/{a.epochs}: validation loss {loss:.4f}, {bpp:.4f} bpp (estimated), "
              f"{psnr:.2f} dB; {seconds:.1f}s, {seen / seconds:.0f} img/s", flush=True)
    return model, history


def code(model, canvases, side):
    """Compresses and decompresses each canvas through CompressAI's entropy coder: (bytes per file, decoded uint8)."""
    model.eval()
    model.update(force=True)
    sizes, decoded = [], []
    with torch.no_grad():
        for batch in torch.from_numpy(canvases.astype(np.float32) / 255).split(100):
            compressed = model.compress(batch.view(-1, 1, side, side))
            for i in range(len(batch)):
                sizes.append(sum(len(strings[i]) for strings in compressed["strings"]) + HEADER_BYTES)
            x_hat = model.decompress(compressed["strings"], compressed["shape"])["x_hat"].clamp(0, 1)
            decoded.append((x_hat * 255).round().to(torch.uint8).view(-1, side, side).numpy())
    return sizes, np.concatenate(decoded)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", required=True, help="a `vaecodec split` folder (or MNIST's folder): the training canvases")
    parser.add_argument("--bench", required=True, help="the --out folder of `vaecodec bench --export-noisy`")
    parser.add_argument("--work", required=True, help="folder for the checkpoints")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--lambdas", nargs="+", type=float, default=[0.0004, 0.001, 0.0025, 0.006])
    parser.add_argument("--epochs", type=int, default=45)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--flip", action="store_true", help="mirror training images left to right with probability 1/2")
    parser.add_argument("--seed", type=int, default=1)
    a = parser.parse_args()

    try:
        train, held_out, side, _ = vt.load_split(a.split)
    except (OSError, ValueError) as e:
        sys.exit(f"compressai_reference.py: {e}")
    clean_path = os.path.join(a.bench, "denoise-inputs", "clean.u8")
    if not os.path.exists(clean_path):
        sys.exit(f"compressai_reference.py: {clean_path}: missing; run `vaecodec bench ... --export-noisy --out {a.bench}` first")
    canvases = np.fromfile(clean_path, dtype=np.uint8)
    if canvases.size % (side * side):
        sys.exit(f"compressai_reference.py: {clean_path}: {canvases.size} bytes is not a whole number of {side}x{side} canvases")
    canvases = canvases.reshape(-1, side, side)
    # The bench measures the first of the split's held-out canvases: validation takes the rest, never the bench's.
    first = (held_out[:len(canvases)] * 255).round().to(torch.uint8).view(-1, side, side).numpy()
    if len(held_out) > len(canvases) and np.array_equal(first, canvases):
        held_out = held_out[len(canvases):]
    else:
        print(f"note: {clean_path} is not the start of {a.split}'s held-out canvases; validating on all of them", flush=True)
    os.makedirs(a.work, exist_ok=True)
    out_dir = os.path.join(a.bench, "compressai")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    lines = ["image,codec,setting,bytes"]
    for name in a.models:
        for lmbda in a.lambdas:
            model, history = train_one(name, lmbda, a, train, held_out, side)
            sizes, decoded = code(model, canvases, side)
            setting = f"lambda{lmbda:g}"
            vt.write_atomically(decoded.tobytes(), os.path.join(out_dir, f"{name}_{setting}.u8"), overwrite=True)
            lines += [f"{i},{name},{setting},{size}" for i, size in enumerate(sizes)]
            mse = ((decoded.astype(np.float64) - canvases) ** 2).reshape(len(canvases), -1).mean(1)
            psnr = np.mean(10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12)))
            seconds = sum(h["seconds"] for h in history)
            print(f"{name} lambda {lmbda:g}: {np.mean(sizes) * 8 / (side * side):.4f} bpp, {psnr:.2f} dB on "
                  f"{len(canvases)} bench canvases ({len(history)} epochs, {seconds:.0f} s of training)", flush=True)
    vt.write_atomically(("\n".join(lines) + "\n").encode(), os.path.join(out_dir, "points.csv"), overwrite=True)
    print(f"wrote {out_dir}/points.csv: read it with `vaecodec bench ... --reference {out_dir}/points.csv`")


if __name__ == "__main__":
    main()
