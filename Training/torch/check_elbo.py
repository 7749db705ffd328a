#!/usr/bin/env python3
"""Prints the -ELBO parts of a vaecodec model file on a batch, computed by PyTorch, for comparison with Swift's.

Usage: check_elbo.py MODEL.safetensors BATCH.safetensors [MODEL BATCH ...]
       check_elbo.py --gradients MODEL.safetensors BATCH.safetensors OUT.safetensors
  Each BATCH holds "x" ([N, 1, canvas, canvas] in 0..1) and "noise" ([N, latent], the standard normal draws of
  z = mu + sigma * noise). Prints a line {"reconstruction": ..., "kl": ...} per pair, in nats per image, computed
  in float64.
With --gradients, writes to OUT the gradient of one training step's loss (the batch's mean of reconstruction + KL, a
learned global variance first set in closed form on the batch, as train.py does) for every trained weight, by its
state_dict name, in float64 then stored as float32.
Tests/VAETests/TorchEquivalenceTests.swift runs this for every architecture and likelihood and compares the result
with VAEModel.evaluate(_:noise:) to 1e-4 relative; without torch, that test is skipped and says so.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vaecodec_torch as vt  # noqa: E402


def load(model_path, batch_path):
    """The model in float64, and the batch's images ([N, pixels]) and noise ([1, N, latent])."""
    model, _ = vt.load_model(model_path)
    batch, _ = vt.read_safetensors(batch_path)
    x = torch.from_numpy(batch["x"]).double().reshape(batch["x"].shape[0], -1)
    return model.double(), x, torch.from_numpy(batch["noise"]).double().unsqueeze(0)


def parts(model_path, batch_path):
    model, x, noise = load(model_path, batch_path)
    with torch.no_grad():
        reconstruction, kl = model.loss_sums(x, noise)
    return {"reconstruction": reconstruction.item() / len(x), "kl": kl.item() / len(x)}


def gradients(model_path, batch_path, out_path):
    model, x, noise = load(model_path, batch_path)
    mu, logvar, logits, targets = model(x, noise)
    if model.likelihood.learned and model.likelihood.variance == "learnedGlobal":
        with torch.no_grad():
            model.likelihood.fit_global(((targets - torch.sigmoid(logits)) ** 2).sum().item(), targets.numel())
    loss = (model.likelihood.negative_log(logits, targets).sum() + vt.gaussian_kl(mu, logvar).sum()) / len(x)
    loss.backward()
    grads = {name: p.grad.numpy() for name, p in model.named_parameters() if p.grad is not None}
    vt.write_atomically(vt.safetensors_bytes(grads, {}), out_path, overwrite=True)


def main():
    if sys.argv[1:2] == ["--gradients"] and len(sys.argv) == 5:
        return gradients(*sys.argv[2:])
    paths = sys.argv[1:]
    if not paths or len(paths) % 2:
        sys.exit(__doc__)
    for model_path, batch_path in zip(paths[::2], paths[1::2]):
        print(json.dumps(parts(model_path, batch_path)))


if __name__ == "__main__":
    main()
