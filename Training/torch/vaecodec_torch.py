"""vaecodec's VAE in PyTorch: the networks, the ELBO, the data and the model file.

The Swift code is the reference; this module mirrors it, and Tests/VAETests/TorchEquivalenceTests.swift holds the
two together (the same weights and batch give the same -ELBO to 1e-4, for every architecture and likelihood, and
every Swift-written model loads here with strict=True).

- Networks: Sources/VAE/ArchitectureSpec.swift (`encoderLayers`, `decoderLayers`), nn.Sequential numbering included,
  so the state_dict keys are the model file's tensor names (docs/MODEL_FORMAT.md).
- ELBO: Sources/VAE/Model.swift and ELBO.swift. The decoder emits logits o; the pixel mean is sigmoid(o) under both
  likelihoods; learned log-variances are clamped to [-9.2, 4] with zero gradient outside.
- Data: the IDX files `vaecodec split` writes (the canvases `vaecodec train` sees, split by person).
- Model file: safetensors with metadata `format`, `format_version`, `config` and `training` (JSON).
"""

import gzip
import json
import math
import os
import struct

import numpy as np
import torch
from torch import nn

FORMAT_TAG = "vaecodec-model"
FORMAT_VERSION = 1
LOG_VARIANCE_RANGE = (-9.2, 4.0)  # VAEConfig.logVarianceRange
ACTIVE_THRESHOLD = 0.01  # Trainer.activeThreshold: nats of mean KL that make a latent dimension active


# ----------------------------------------------------------------------------------------------------------------
# Config and networks
# ----------------------------------------------------------------------------------------------------------------

def validate_config(config):
    """The checks of VAEConfig.validate() that this trainer relies on; raises ValueError naming the problem."""
    arch, canvas, latent, hidden = config["arch"], config["canvas"], config["latent"], config["hidden"]
    if arch not in ("mlp", "conv", "spatial"):
        raise ValueError(f"unknown architecture {arch!r} (mlp, conv or spatial)")
    if not (1 <= canvas <= 4096 and 1 <= latent <= 65536 and hidden and all(1 <= h <= 65536 for h in hidden)):
        raise ValueError(f"canvas {canvas}, latent {latent} or hidden {hidden} out of range")
    if arch in ("conv", "spatial") and len(hidden) != 1:
        raise ValueError(f"{arch} takes hidden = [base channels], got {hidden}")
    if arch == "conv" and conv_stages(canvas) is None:
        raise ValueError(f"conv canvas must be 4*2^S (8, 16, 32, 64, 128...), got {canvas}")
    if arch == "spatial":
        if canvas % 8:
            raise ValueError(f"spatial canvas must be a multiple of 8, got {canvas}")
        cells = (canvas // 8) ** 2
        if latent % cells:
            raise ValueError(f"spatial latent {latent} must be a multiple of the {canvas // 8}x{canvas // 8} grid ({cells})")


def conv_stages(canvas):
    if canvas < 8 or canvas % 4:
        return None
    ratio = canvas // 4
    return ratio.bit_length() - 1 if ratio & (ratio - 1) == 0 else None


def _init(layer, scheme, fan_in, fan_out):
    """LayerSpec.Initialization: he = N(0, 2/fanIn); xavier = U(+-sqrt(6/(fanIn+fanOut))); uniformFanIn =
    PyTorch's default U(+-1/sqrt(fanIn)) for weight and bias. Biases start at zero otherwise."""
    with torch.no_grad():
        if scheme == "he":
            layer.weight.normal_(0, math.sqrt(2 / fan_in))
        elif scheme == "xavier":
            bound = math.sqrt(6 / (fan_in + fan_out))
            layer.weight.uniform_(-bound, bound)
        else:
            bound = 1 / math.sqrt(fan_in)
            layer.weight.uniform_(-bound, bound)
            layer.bias.uniform_(-bound, bound)
            return layer
        layer.bias.zero_()
    return layer


def _linear(inputs, outputs, scheme):
    return _init(nn.Linear(inputs, outputs), scheme, inputs, outputs)


def _halving(cin, cout, transposed, scheme):
    """The k4 s2 p1 convolution every architecture scales by (LayerSpec `halving`), with Swift's fan-in and fan-out."""
    return _convolution(cin, cout, 4, 2, 1, transposed, scheme)


def _convolution(cin, cout, k, s, p, transposed, scheme):
    if transposed:
        layer = nn.ConvTranspose2d(cin, cout, k, s, p)
        return _init(layer, scheme, max(1, cin * k * k // (s * s)), cout * k * k)
    layer = nn.Conv2d(cin, cout, k, s, p)
    return _init(layer, scheme, cin * k * k, cout * k * k // (s * s))


def _perceptron(widths, activation):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(_linear(widths[i], widths[i + 1], "uniformFanIn"))
        if i < len(widths) - 2:
            layers.append(activation())
    return layers


def build_networks(config):
    """(encoder, decoder) as nn.Sequential, layer for layer ArchitectureSpec.swift's lists."""
    validate_config(config)
    act = nn.ReLU if config.get("activation", "relu") == "relu" else (lambda: nn.LeakyReLU(0.01))
    arch, canvas, latent, hidden = config["arch"], config["canvas"], config["latent"], config["hidden"]
    if arch == "mlp":
        return (nn.Sequential(*_perceptron([canvas * canvas] + hidden + [2 * latent], act)),
                nn.Sequential(*_perceptron([latent] + hidden[::-1] + [canvas * canvas], act)))
    c = hidden[0]
    if arch == "conv":
        channels = [c << i for i in range(conv_stages(canvas))]
        encoder, cin = [], 1
        for cout in channels:
            encoder += [_halving(cin, cout, False, "he"), act()]
            cin = cout
        encoder += [nn.Flatten(), _linear(channels[-1] * 16, 2 * latent, "xavier")]
        decoder = [_linear(latent, channels[-1] * 16, "he"), act(), nn.Unflatten(1, (channels[-1], 4, 4))]
        for i in range(len(channels) - 1, 0, -1):
            decoder += [_halving(channels[i], channels[i - 1], True, "he"), act()]
        decoder.append(_halving(channels[0], 1, True, "xavier"))
        return nn.Sequential(*encoder), nn.Sequential(*decoder)
    grid = canvas // 8
    channels = latent // (grid * grid)
    encoder = [_halving(1, c, False, "he"), act(), _halving(c, 2 * c, False, "he"), act(),
               _halving(2 * c, 4 * c, False, "he"), act(), _convolution(4 * c, 2 * channels, 3, 1, 1, False, "xavier"),
               nn.Flatten()]
    decoder = [nn.Unflatten(1, (channels, grid, grid)), _convolution(channels, 4 * c, 3, 1, 1, True, "he"), act(),
               _halving(4 * c, 2 * c, True, "he"), act(), _halving(2 * c, c, True, "he"), act(),
               _halving(c, 1, True, "xavier")]
    return nn.Sequential(*encoder), nn.Sequential(*decoder)


class Likelihood(nn.Module):
    """p(x|z) from the decoder's logits; holds the learned log-variance ("likelihood.logvar") when there is one."""

    def __init__(self, spec, pixels):
        super().__init__()
        self.kind = spec["kind"]
        self.variance = spec.get("variance")
        self.fixed = float(spec.get("logVariance", 0))
        if self.kind == "gaussian" and self.variance in ("learnedGlobal", "learnedPerPixel"):
            shape = 1 if self.variance == "learnedGlobal" else pixels
            # The global one is set in closed form each step (`fit_global`), not by the optimiser.
            self.logvar = nn.Parameter(torch.zeros(shape), requires_grad=self.variance == "learnedPerPixel")
        elif self.kind not in ("bernoulli", "gaussian") or (self.kind == "gaussian" and self.variance != "fixed"):
            raise ValueError(f"unknown likelihood {spec}")

    @property
    def learned(self):
        return hasattr(self, "logvar")

    def negative_log(self, logits, x):
        """-log p(x|z) per row, summed over pixels; logits and x are [rows, pixels]."""
        if self.kind == "bernoulli":
            return nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        if self.learned:
            lv = self.logvar.clamp(*LOG_VARIANCE_RANGE)  # clamp: zero gradient outside, as in Swift
        else:
            lv = torch.tensor(self.fixed, dtype=logits.dtype, device=logits.device)
        residual = x - torch.sigmoid(logits)
        return (0.5 * (math.log(2 * math.pi) + lv + residual * residual * torch.exp(-lv))).sum(1)

    @torch.no_grad()
    def fit_global(self, squared_residual_sum, count):
        """The sigma-VAE rule: the maximum-likelihood shared variance is the mean squared residual."""
        value = math.log(max(squared_residual_sum / max(1, count), 1e-12))
        self.logvar.fill_(min(max(value, LOG_VARIANCE_RANGE[0]), LOG_VARIANCE_RANGE[1]))


class VAE(nn.Module):
    """state_dict keys: encoder.I.*, decoder.I.*, likelihood.logvar: the model file's tensor names."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.encoder, self.decoder = build_networks(config)
        self.likelihood = Likelihood(config["likelihood"], config["canvas"] ** 2)

    @property
    def pixels(self):
        return self.config["canvas"] ** 2

    def encode(self, x):
        """x: [N, pixels] in 0..1 -> (mu, logvar), each [N, latent]."""
        side = self.config["canvas"]
        h = self.encoder(x if self.config["arch"] == "mlp" else x.view(-1, 1, side, side))
        k = self.config["latent"]
        return h[:, :k], h[:, k:]

    def decode_logits(self, z):
        return self.decoder(z).reshape(z.shape[0], self.pixels)

    def forward(self, x, noise):
        """x: [N, pixels]; noise: [S, N, latent] standard normal draws. Returns mu and logvar ([N, latent]), the
        logits of z = mu + sigma * noise ([S*N, pixels]) and their targets (x repeated S times)."""
        mu, logvar = self.encode(x)
        z = (mu + torch.exp(0.5 * logvar) * noise).reshape(-1, mu.shape[1])
        return mu, logvar, self.decode_logits(z), x.repeat(noise.shape[0], 1)

    def loss_sums(self, x, noise):
        """Sums over the images of the reconstruction term (averaged over the samples of noise) and of the
        closed-form KL: the two parts of the -ELBO."""
        mu, logvar, logits, targets = self(x, noise)
        reconstruction = self.likelihood.negative_log(logits, targets).sum() / noise.shape[0]
        return reconstruction, gaussian_kl(mu, logvar).sum()


def gaussian_kl(mu, logvar):
    """KL(N(mu, sigma^2) || N(0, 1)) per dimension: 0.5 (mu^2 + sigma^2 - 1 - log sigma^2) (ELBO.gaussianKL)."""
    return 0.5 * (mu * mu + torch.exp(logvar) - 1 - logvar)


@torch.no_grad()
def evaluate(model, images, generator, chunk=500):
    """-ELBO parts in nats per image (one sample of z, KL in closed form) and mean KL per latent dimension,
    as Trainer.evaluate."""
    model.eval()
    reconstruction = kl = 0.0
    per_dimension = torch.zeros(model.config["latent"], dtype=torch.float64)
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk]
        noise = torch.randn((1, len(x), model.config["latent"]), generator=generator).to(x.device)
        mu, logvar, logits, targets = model(x, noise)
        per = gaussian_kl(mu, logvar).double()
        reconstruction += model.likelihood.negative_log(logits, targets).sum().item()
        kl += per.sum().item()
        per_dimension += per.sum(0).cpu()
    n = max(1, len(images))
    model.train()
    return reconstruction / n, kl / n, (per_dimension / n).tolist()


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------

SPLIT_FILES = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")


def read_idx(path):
    """An IDX image file (raw or .gz) -> uint8 array [N, side, side]."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 16:
        raise ValueError(f"{path}: not an IDX image file (too short)")
    magic, count, rows, columns = struct.unpack(">IIII", data[:16])
    if magic != 0x803 or rows != columns:
        raise ValueError(f"{path}: not a square IDX image file (magic {magic}, {rows}x{columns})")
    if len(data) != 16 + count * rows * columns:
        raise ValueError(f"{path}: holds {len(data) - 16} pixel bytes, header promises {count * rows * columns}")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, columns)


def load_split(folder):
    """(train, held_out, side, record) from a folder written by `vaecodec split` (or MNIST's own folder); images
    are float32 [N, side * side] in 0..1, and record is split.json's content (None for a plain MNIST folder)."""
    if not os.path.isdir(folder):
        raise ValueError(f"{folder}: no such folder; write one with `vaecodec split --data DATA --out {folder}`")

    def find(stem):
        for name in (stem, stem + ".gz"):
            if os.path.exists(os.path.join(folder, name)):
                return os.path.join(folder, name)
        raise ValueError(f"{folder}: no {stem}[.gz]; train.py reads a split folder: write one with "
                         f"`vaecodec split --data {folder} --crop 110 --out SPLIT` (--crop 110 for LFW) and pass --data SPLIT")

    halves = [read_idx(find(stem)) for stem in SPLIT_FILES]
    side = halves[0].shape[1]
    if halves[1].shape[1] != side:
        raise ValueError(f"{folder}: the training images are {side}x{side}, the held-out ones {halves[1].shape[1]}")
    record_path = os.path.join(folder, "split.json")
    try:
        record = json.load(open(record_path)) if os.path.exists(record_path) else None
    except ValueError as e:
        raise ValueError(f"{record_path}: not a split record ({e})")
    as_float = lambda a: torch.from_numpy(a.reshape(len(a), -1).astype(np.float32) / 255)
    return as_float(halves[0]), as_float(halves[1]), side, record


def augment(x, side, flip, shift, generator):
    """Trainer's augmentation: each image mirrored left to right with probability 1/2, then moved by up to `shift`
    pixels in x and y, shifted-in pixels repeating the edge."""
    n = x.shape[0]
    if not flip and shift == 0:
        return x
    mirrored = torch.randint(0, 2, (n,), generator=generator).bool() if flip else torch.zeros(n, dtype=torch.bool)
    dx = torch.randint(-shift, shift + 1, (n,), generator=generator) if shift else torch.zeros(n, dtype=torch.long)
    dy = torch.randint(-shift, shift + 1, (n,), generator=generator) if shift else torch.zeros(n, dtype=torch.long)
    axis = torch.arange(side)
    rows = (axis[None, :] - dy[:, None]).clamp(0, side - 1)
    columns = (axis[None, :] - dx[:, None]).clamp(0, side - 1)
    columns = torch.where(mirrored[:, None], side - 1 - columns, columns)
    images = x.view(n, side, side)
    moved = images[torch.arange(n)[:, None, None], rows[:, :, None].to(x.device), columns[:, None, :].to(x.device)]
    return moved.reshape(n, side * side)


# ----------------------------------------------------------------------------------------------------------------
# Model files (safetensors, docs/MODEL_FORMAT.md)
# ----------------------------------------------------------------------------------------------------------------

_DTYPES = {"F32": np.float32, "F16": np.float16}


def read_entries(path):
    """({name: (header info, raw bytes)} for every tensor, any dtype, and the metadata) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: truncated, not a safetensors file")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise ValueError(f"{path}: truncated safetensors header")
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    body = 8 + length
    return {name: (info, data[body + info["data_offsets"][0]:body + info["data_offsets"][1]]) for name, info in header.items()}, metadata


def read_safetensors(path):
    """(tensors as float32 numpy arrays, metadata) of a safetensors file's weights: its F32/F16 tensors, and its I8
    weights dequantized with their "NAME.scale" rows (docs/MODEL_FORMAT.md, 8-bit weights); not the codec's integer
    tables."""
    entries, metadata = read_entries(path)
    tensors = {name: np.frombuffer(blob, dtype=_DTYPES[info["dtype"]]).reshape(info["shape"]).astype(np.float32)
               for name, (info, blob) in entries.items() if info["dtype"] in _DTYPES}
    for name, (info, blob) in entries.items():
        if info["dtype"] == "I8":
            scale = tensors.pop(name + ".scale", None)
            if scale is None or scale.shape != (info["shape"][0],):
                raise ValueError(f"{path}: I8 tensor {name} lacks its {name}.scale")
            codes = np.frombuffer(blob, dtype=np.int8).reshape(info["shape"]).astype(np.float32)
            tensors[name] = codes * scale.reshape((-1,) + (1,) * (codes.ndim - 1))
    return tensors, metadata


def safetensors_bytes(tensors, metadata):
    """A safetensors file of float32 tensors (contiguous, in key order) with string metadata."""
    return safetensors_bytes_raw({}, tensors, metadata)


def safetensors_bytes_raw(raw, added, metadata):
    """A safetensors file of entries kept as they were ({name: (header info, bytes)}, any dtype) and tensors added to
    them (integer arrays as I32, the rest as F32), in key order, with string metadata."""
    entries = {name: (info["dtype"], info["shape"], data) for name, (info, data) in raw.items()}
    for name, array in added.items():
        dtype, code = ("I32", "<i4") if np.issubdtype(np.asarray(array).dtype, np.integer) else ("F32", "<f4")
        entries[name] = (dtype, list(np.shape(array)), np.ascontiguousarray(array, dtype=code).tobytes())
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(entries):
        dtype, shape, blob = entries[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write_atomically(data, path, overwrite):
    """Writes beside the target and renames into place; refuses an existing target unless `overwrite`."""
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path}: already exists (use --force to overwrite)")
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def load_model(path):
    """A VAE from a vaecodec model file (any trainer's), weights loaded with strict=True; and its metadata."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT_TAG:
        raise ValueError(f"{path}: not a vaecodec model (safetensors metadata lacks format {FORMAT_TAG!r})")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise ValueError(f"{path}: model format version {metadata.get('format_version')} is not {FORMAT_VERSION}")
    model = VAE(json.loads(metadata["config"]))
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()
             if not k.startswith(("adam.", "codec.", "hyperprior."))}
    model.load_state_dict(state, strict=True)
    return model, metadata


def model_file_bytes(model, training, trainer):
    """The model file vaecodec reads: weights by state_dict name, config and training record as JSON metadata."""
    metadata = {
        "format": FORMAT_TAG,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(model.config, sort_keys=True, separators=(",", ":")),
        "training": json.dumps(training, sort_keys=True, separators=(",", ":")),
        "trainer": trainer,
    }
    tensors = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return safetensors_bytes(tensors, metadata)
