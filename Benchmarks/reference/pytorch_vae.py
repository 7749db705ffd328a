#!/usr/bin/env python3
"""PyTorch reference benchmark for the vaecodec Swift VAE.

Two modes, each printing one JSON object per epoch on stdout:

  mnist  PyTorch's classic example VAE (pytorch/examples, vae/main.py):
         MLP 784-400-20-400-784, Bernoulli BCE (summed) + KL, Adam 1e-3,
         batch 128, shuffled, trained on the real MNIST training set.
         Reports per epoch: training seconds, train -ELBO per image
         (averaged over the epoch while training, as the example does) and
         test -ELBO per image on the 10,000 test images.

  conv   A convolutional VAE on 64x64 one-channel images (see ConvVAE below),
         BCE-with-logits (summed) + KL, Adam 1e-3, batch 64. Default data is
         N random uniform images in [0, 1] (only speed matters); `--data mnist`
         uses MNIST digits resized to 64x64 instead.
         Reports per epoch: training seconds, seconds per 10,000 images,
         images per second and train -ELBO per image.

All "elbo" numbers are the NEGATIVE ELBO in nats per image (lower is better).

No torchvision: MNIST is read from the IDX .gz files with gzip + numpy.

Usage (see README.md next to this file):
  python pytorch_vae.py mnist --epochs 10
  python pytorch_vae.py conv --epochs 2 --images 10000
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

DEFAULT_MNIST_DIR = "/work/shared/datasets/mnist"


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def load_mnist_images(path):
    """Read an IDX3 ubyte .gz file -> float32 array (N, 28, 28) in [0, 1]."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = np.frombuffer(data, dtype=">i4", count=4)
    if magic != 2051:
        raise ValueError(f"{path}: not an IDX3 image file (magic {magic})")
    pixels = np.frombuffer(data, dtype=np.uint8, offset=16)
    pixels = pixels.reshape(n, rows, cols)
    return pixels.astype(np.float32) / 255.0  # not binarised, like ToTensor()


def load_mnist(data_dir):
    train = load_mnist_images(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
    test = load_mnist_images(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"))
    return torch.from_numpy(train), torch.from_numpy(test)


def shuffled_batches(n, batch_size, generator):
    """Indices of a shuffled epoch, split into batches (last one may be short)."""
    order = torch.randperm(n, generator=generator)
    return torch.split(order, batch_size)


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

def reparameterize(mu, logvar):
    std = torch.exp(0.5 * logvar)
    eps = torch.randn_like(std)
    return mu + eps * std


def kl_divergence(mu, logvar):
    """KL(q(z|x) || N(0, I)), summed over the batch and latent dimensions."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


class MnistVAE(nn.Module):
    """The pytorch/examples vae/main.py model: 784-400-20 / 20-400-784."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)  # mu
        self.fc22 = nn.Linear(400, 20)  # logvar
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x, sample=True):
        mu, logvar = self.encode(x.view(-1, 784))
        z = reparameterize(mu, logvar) if sample else mu
        return self.decode(z), mu, logvar


def mnist_loss(recon_x, x, mu, logvar):
    """-ELBO summed over the batch: Bernoulli BCE (summed) + KL."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    return bce + kl_divergence(mu, logvar)


class ConvVAE(nn.Module):
    """Conv VAE for 64x64x1 images; c = base channels, latent = latent size.

    encoder: 64 -> 32 -> 16 -> 8 -> 4 with Conv2d(k=4, s=2, p=1) + ReLU,
             flatten 8c*4*4, Linear -> 2*latent (mu, logvar)
    decoder: Linear latent -> 8c*4*4 + ReLU, reshape (8c, 4, 4),
             4 -> 8 -> 16 -> 32 -> 64 with ConvTranspose2d(k=4, s=2, p=1),
             ReLU between, no activation on the last (outputs logits)
    """

    def __init__(self, c=32, latent=128):
        super().__init__()
        self.c = c
        self.latent = latent
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(2 * c, 4 * c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(4 * c, 8 * c, 4, 2, 1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(8 * c * 16, 2 * latent),
        )
        self.decoder_fc = nn.Linear(latent, 8 * c * 16)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(8 * c, 4 * c, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c, 1, 4, 2, 1),
        )

    def encode(self, x):
        h = self.encoder(x)
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar

    def decode(self, z):
        h = F.relu(self.decoder_fc(z))
        h = h.view(-1, 8 * self.c, 4, 4)
        return self.decoder(h)  # logits

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def conv_loss(logits, x, mu, logvar):
    """-ELBO summed over the batch: Bernoulli-from-logits BCE (summed) + KL."""
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    return bce + kl_divergence(mu, logvar)


# --------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------

def emit(record):
    print(json.dumps(record), flush=True)


def run_mnist(args):
    train_x, test_x = load_mnist(args.data_dir)
    if args.images:
        train_x = train_x[: args.images]
    n_train, n_test = len(train_x), len(test_x)

    model = MnistVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    shuffle_gen = torch.Generator().manual_seed(args.seed)
    batch_size = args.batch_size or 128

    for epoch in range(1, args.epochs + 1):
        # ---- training (this is the only part that is timed) ----
        model.train()
        train_loss = 0.0
        start = time.perf_counter()
        for idx in shuffled_batches(n_train, batch_size, shuffle_gen):
            x = train_x[idx]
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = mnist_loss(recon, x, mu, logvar)
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
        seconds = time.perf_counter() - start

        # ---- evaluation on the 10k test images (not timed) ----
        model.eval()
        test_loss = 0.0       # one Monte Carlo sample of z, as in the example
        test_loss_mean = 0.0  # decoder applied to z = mu
        with torch.no_grad():
            for x in torch.split(test_x, 1000):
                recon, mu, logvar = model(x, sample=True)
                test_loss += mnist_loss(recon, x, mu, logvar).item()
                recon, mu, logvar = model(x, sample=False)
                test_loss_mean += mnist_loss(recon, x, mu, logvar).item()

        emit({
            "mode": "mnist",
            "epoch": epoch,
            "seconds": round(seconds, 3),
            "images_per_s": round(n_train / seconds, 1),
            "train_elbo": round(train_loss / n_train, 4),
            "test_elbo": round(test_loss / n_test, 4),
            "test_elbo_mean_z": round(test_loss_mean / n_test, 4),
            "threads": torch.get_num_threads(),
            "batch_size": batch_size,
            "train_images": n_train,
        })


def make_conv_data(args):
    n = args.images or 10000
    gen = torch.Generator().manual_seed(args.seed + 1)
    if args.data == "random":
        return torch.rand(n, 1, 64, 64, generator=gen)
    # MNIST digits bilinearly resized 28x28 -> 64x64, clamped to [0, 1].
    train_x, _ = load_mnist(args.data_dir)
    if n > len(train_x):
        raise SystemExit(f"--images {n} exceeds the {len(train_x)} MNIST training images")
    x = train_x[:n].unsqueeze(1)
    x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
    return x.clamp_(0.0, 1.0).contiguous()


def run_conv(args):
    data = make_conv_data(args)
    n = len(data)
    model = ConvVAE(c=args.channels, latent=args.latent)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    shuffle_gen = torch.Generator().manual_seed(args.seed)
    batch_size = args.batch_size or 64
    n_params = sum(p.numel() for p in model.parameters())

    for epoch in range(1, args.epochs + 1):
        model.train()
        train_loss = 0.0
        start = time.perf_counter()
        for idx in shuffled_batches(n, batch_size, shuffle_gen):
            x = data[idx]
            optimizer.zero_grad()
            logits, mu, logvar = model(x)
            loss = conv_loss(logits, x, mu, logvar)
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
        seconds = time.perf_counter() - start

        emit({
            "mode": "conv",
            "epoch": epoch,
            "seconds": round(seconds, 3),
            "seconds_per_10k": round(seconds * 10000 / n, 3),
            "images_per_s": round(n / seconds, 1),
            "train_elbo": round(train_loss / n, 4),
            "data": args.data,
            "images": n,
            "channels": args.channels,
            "latent": args.latent,
            "params": n_params,
            "threads": torch.get_num_threads(),
            "batch_size": batch_size,
        })


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["mnist", "conv"])
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs to train (default: mnist 10, conv 2)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch.set_num_threads (default 2)")
    p.add_argument("--images", type=int, default=None,
                   help="training images: conv default 10000; mnist default all 60000")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=None,
                   help="default: mnist 128, conv 64")
    p.add_argument("--channels", type=int, default=32, help="conv: base channels c")
    p.add_argument("--latent", type=int, default=128, help="conv: latent size")
    p.add_argument("--data", choices=["random", "mnist"], default="random",
                   help="conv: random uniform images or MNIST resized to 64x64")
    p.add_argument("--data-dir", default=DEFAULT_MNIST_DIR,
                   help=f"folder with the MNIST IDX .gz files (default {DEFAULT_MNIST_DIR})")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 10 if args.mode == "mnist" else 2

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, numpy {np.__version__}, "
          f"threads {torch.get_num_threads()}, mode {args.mode}", file=sys.stderr)

    if args.mode == "mnist":
        run_mnist(args)
    else:
        run_conv(args)


if __name__ == "__main__":
    main()
