"""A denoising VAE (Im et al. 2017) from a vaecodec model, for the denoising study in docs/NOTES.md.

The encoder sees y = clean + noise (sigma drawn uniformly in 0...60 per image, clipped and rounded like the bench's
inputs) and the ELBO scores the clean image: an amortised posterior q(z | y) under the same decoder and prior,
both trained on. Writes a vaecodec model file (the source model's training record, so bench finds the same split)
after every epoch, and resumes from OUT.checkpoint.

    python3 Benchmarks/studies/denoising_vae.py --model Sources/Codec/Models/faces-grid.safetensors \
        --split SPLIT --out dvae.safetensors [--epochs 12] [--lr 3e-4]
    vaecodec calibrate dvae.safetensors --data ../shared/datasets/lfw --crop 110 -o dvae-codec.safetensors
    vaecodec bench --data ../shared/datasets/lfw --crop 110 --model dvae-codec.safetensors --denoise-only --limit 100 --out DIR
"""
import argparse, json, math, os, sys, time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "Training", "torch"))
import vaecodec_torch as vt

a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
a.add_argument("--model", required=True)
a.add_argument("--split", required=True, help="a `vaecodec split` folder of the model's data")
a.add_argument("--out", required=True)
a.add_argument("--epochs", type=int, default=12)
a.add_argument("--lr", type=float, default=3e-4)
a = a.parse_args()
torch.manual_seed(1)

model, metadata = vt.load_model(a.model)
train, held_out, side, _ = vt.load_split(a.split)
optimizer = torch.optim.Adam([p for name, p in model.named_parameters() if name != "likelihood.logvar"], a.lr)
checkpoint, start = a.out + ".checkpoint", 0
if os.path.exists(checkpoint):
    state = torch.load(checkpoint)
    model.load_state_dict(state["model"]); optimizer.load_state_dict(state["optimizer"]); start = state["epoch"]
generator = torch.Generator().manual_seed(7 + start)

def noisy(x, sigma, generator):
    return (x * 255 + sigma * torch.randn(x.shape, generator=generator)).clamp(0, 255).round() / 255

for epoch in range(start, a.epochs):
    began, order, total, count = time.time(), torch.randperm(len(train), generator=generator), 0.0, 0
    for i in range(0, len(train) - 127, 128):
        x = vt.augment(train[order[i:i + 128]], side, True, 0, generator)
        mu, logvar = model.encode(noisy(x, torch.rand(len(x), 1, generator=generator) * 60, generator))
        logits = model.decode_logits(mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator))
        if model.likelihood.variance == "learnedGlobal":
            with torch.no_grad():
                residual = x - torch.sigmoid(logits)
                model.likelihood.fit_global((residual * residual).sum().item(), residual.numel())
        loss = (model.likelihood.negative_log(logits, x).sum() + vt.gaussian_kl(mu, logvar).sum()) / len(x)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        total, count = total + loss.item() * len(x), count + len(x)
    with torch.no_grad():
        fixed, scores = torch.Generator().manual_seed(3), []
        for sigma in (15, 25, 50):
            x = held_out[:500]
            picture = torch.sigmoid(model.decode_logits(model.encode(noisy(x, sigma, fixed))[0]))
            scores.append(10 * math.log10(1 / ((picture - x) ** 2).mean().item()))
    seconds = time.time() - began
    print(f"epoch {epoch + 1}: -ELBO {total / count:.1f}; encoder-decoder PSNR on 500 held-out at sigma 15 / 25 / 50: "
          + " / ".join(f"{s:.2f}" for s in scores) + f"; {seconds:.0f} s, {count / seconds:.0f} images/s", flush=True)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1}, checkpoint)
    vt.write_atomically(vt.model_file_bytes(model, json.loads(metadata["training"]), "denoising_vae.py"), a.out, overwrite=True)
