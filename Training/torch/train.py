#!/usr/bin/env python3
"""Train a vaecodec VAE with PyTorch, on one process or many (torchrun, DistributedDataParallel).

The same architectures, ELBO, likelihoods, beta, warm-up and augmentations as `vaecodec train`, on the images of a
`vaecodec split` folder. Writes OUT.checkpoint.pt after every epoch (--resume continues from it) and, at the end,
OUT: a vaecodec model file. `vaecodec calibrate OUT --data ... -o CODEC` then fits its codec tables.

  vaecodec split --data lfw --crop 110 --out lfw-split
  torchrun --standalone --nproc_per_node 2 Training/torch/train.py --data lfw-split --out faces.safetensors --flip

See Training/torch/README.md.
"""
import argparse
import os
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vaecodec_torch as vt  # noqa: E402

LIKELIHOODS = {
    "bernoulli": lambda lv: {"kind": "bernoulli"},
    "gaussian": lambda lv: {"kind": "gaussian", "variance": "fixed", "logVariance": lv},
    "gaussian-global": lambda lv: {"kind": "gaussian", "variance": "learnedGlobal"},
    "gaussian-pixel": lambda lv: {"kind": "gaussian", "variance": "learnedPerPixel"},
}


def arguments():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a folder written by `vaecodec split` (or MNIST's own folder)")
    p.add_argument("--out", "-o", required=True, help="the model file to write (safetensors)")
    p.add_argument("--arch", choices=["mlp", "conv", "spatial"], default="conv")
    p.add_argument("--latent", type=int, default=128)
    p.add_argument("--hidden", help="mlp: widths, comma-separated (default 400); conv, spatial: base channels (default 32)")
    p.add_argument("--likelihood", choices=sorted(LIKELIHOODS), default="gaussian-global")
    p.add_argument("--log-variance", type=float, default=-6, help="log sigma^2 of the fixed Gaussian likelihood")
    p.add_argument("--canvas", type=int, help="canvas side (default: the split's images')")
    p.add_argument("--beta", type=float, default=1, help="weight on the KL term")
    p.add_argument("--warmup", type=int, default=0, help="KL warm-up: beta rises from 0 over this many steps")
    p.add_argument("--epochs", type=int, default=10, help="epochs in total (with --resume: the new total); 0 writes the initial weights, a starting point for --init-from")
    p.add_argument("--batch", type=int, default=128, help="images per step, over all processes")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--clip", type=float, help="global gradient-norm clipping")
    p.add_argument("--samples", type=int, default=1, help="Monte Carlo samples of z per image")
    p.add_argument("--flip", action="store_true", help="mirror each training image with probability 1/2")
    p.add_argument("--shift", type=int, default=0, help="move each training image by up to N pixels in x and y")
    p.add_argument("--init-from", help="start from this model file's weights (same architecture)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.checkpoint.pt")
    p.add_argument("--force", action="store_true", help="overwrite an existing model file and checkpoint")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    a = p.parse_args()
    for name, ok in [("--epochs", a.epochs >= 0), ("--batch", 1 <= a.batch <= 65536), ("--lr", a.lr > 0),
                     ("--samples", a.samples >= 1), ("--shift", 0 <= a.shift <= 8), ("--beta", a.beta >= 0),
                     ("--warmup", a.warmup >= 0), ("--clip", a.clip is None or a.clip > 0)]:
        if not ok:
            p.error(f"{name} is out of range (as in `vaecodec train`)")
    return a


class Run:
    """This process's place in the job: rank, world size, device."""

    def __init__(self, device_choice):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device_choice == "cuda" and not torch.cuda.is_available():
            fail("--device cuda: PyTorch sees no CUDA device here (--device cpu trains on the CPUs)")
        cuda = device_choice == "cuda" or (device_choice == "auto" and torch.cuda.is_available())
        self.device = torch.device(f"cuda:{local}" if cuda else "cpu")
        self.backend = "nccl" if cuda else "gloo"
        if cuda:
            torch.cuda.set_device(self.device)
        if self.world > 1:
            dist.init_process_group(self.backend)

    @property
    def leader(self):
        return self.rank == 0

    def sum(self, values):
        """Element-wise sum over all processes (a list of floats)."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.tolist()

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def describe(self):
        processes = f"{self.world} process" + ("es" if self.world > 1 else "")
        return f"Training/torch/train.py, PyTorch {torch.__version__}, DistributedDataParallel over {processes} ({self.backend}, {self.device.type})"


def fail(message):
    sys.stderr.write(f"train.py: {message}\n")
    sys.exit(1)


def config_from(a, canvas):
    if a.hidden:
        try:
            hidden = [int(w) for w in a.hidden.split(",")]
        except ValueError:
            fail("--hidden takes positive integers separated by commas")
    else:
        hidden = [400] if a.arch == "mlp" else [32]
    config = {"arch": a.arch, "canvas": canvas, "latent": a.latent, "hidden": hidden,
              "likelihood": LIKELIHOODS[a.likelihood](a.log_variance), "activation": "relu"}
    try:
        vt.validate_config(config)
    except ValueError as e:
        fail(f"invalid VAE config: {e}")
    return config


def main():
    a = arguments()
    run = Run(a.device)
    checkpoint_path = a.out + ".checkpoint.pt"
    if run.leader and not a.resume and not a.force:
        for path in (a.out, checkpoint_path):
            if os.path.exists(path):
                fail(f"{path}: already exists (use --force to overwrite, or --resume to continue)")
    run.barrier()

    try:
        train, held_out, side, record = vt.load_split(a.data)
    except (OSError, ValueError) as e:
        fail(str(e))
    # The split's seed is the run's seed, as in `vaecodec train`, so `calibrate` and `bench` rebuild the same split.
    seed = int(record["seed"]) if record else 1
    history, step, checkpoint = [], 0, None
    if a.resume:
        if not os.path.exists(checkpoint_path):
            fail(f"{checkpoint_path}: no checkpoint to resume (run without --resume first)")
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        config, options, history, step = checkpoint["config"], checkpoint["options"], checkpoint["history"], checkpoint["step"]
        options["epochs"] = a.epochs
        if checkpoint["world"] != run.world and run.leader:
            print(f"note: the checkpoint was written by {checkpoint['world']} processes, this run has {run.world}: "
                  "each epoch's shuffle is the same, each process's noise is not", flush=True)
    else:
        config = config_from(a, a.canvas or side)
        options = {"epochs": a.epochs, "batchSize": a.batch, "learningRate": a.lr, "seed": seed, "beta": a.beta,
                   "warmupSteps": a.warmup, "samples": a.samples, "workers": run.world, "flip": a.flip, "shift": a.shift}
        if a.clip:
            options["maxGradientNorm"] = a.clip
    if config["canvas"] != side:
        fail(f"{a.data}: images are {side}x{side}, the model's canvas is {config['canvas']}; "
             f"write the split with `vaecodec split ... --canvas {config['canvas']}`")
    if len(train) < run.world:
        fail(f"{a.data}: {len(train)} training images for {run.world} processes")

    torch.manual_seed(seed)
    model = vt.VAE(config).to(run.device)
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
    elif a.init_from:
        if not os.path.isfile(a.init_from):
            fail(f"{a.init_from}: no such model file")
        try:
            source, _ = vt.load_model(a.init_from)
        except (OSError, ValueError, RuntimeError) as e:
            fail(f"{a.init_from}: not a vaecodec model file ({str(e).splitlines()[0]})")
        mine = {k: v.shape for k, v in model.state_dict().items() if k != "likelihood.logvar"}
        theirs = {k: v.shape for k, v in source.state_dict().items() if k != "likelihood.logvar"}
        if mine != theirs:
            wrong = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))[0]
            shape = lambda shapes: list(shapes[wrong]) if wrong in shapes else "missing"
            fail(f"{a.init_from}: does not match this architecture ({wrong} is {shape(mine)} here, {shape(theirs)} in the file); "
                 f"it was trained with --arch {source.config['arch']} --hidden {','.join(map(str, source.config['hidden']))} "
                 f"--latent {source.config['latent']}")
        model.load_state_dict({k: v for k, v in source.state_dict().items() if k in mine}, strict=False)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trained, lr=options["learningRate"], betas=(0.9, 0.999), eps=1e-8)
    if checkpoint:
        optimizer.load_state_dict(checkpoint["optimizer"])
    network = torch.nn.parallel.DistributedDataParallel(model) if run.world > 1 else model

    say = (lambda line: print(line, flush=True)) if run.leader and not a.quiet else (lambda line: None)
    say(f"data: {len(train)} training and {len(held_out)} validation images at {config['canvas']}x{config['canvas']} from {a.data}")
    say(f"model: {config['arch']} {config['hidden']} latent {config['latent']}, {sum(p.numel() for p in model.parameters())} parameters; "
        f"{run.describe()}")
    train_device, held_out = train.to(run.device), held_out.to(run.device)
    batch, samples, latent = options["batchSize"], options["samples"], config["latent"]
    global_variance = config["likelihood"].get("variance") == "learnedGlobal"

    def save_checkpoint():
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": config, "options": options,
                 "history": history, "step": step, "world": run.world}
        temporary = f"{checkpoint_path}.tmp-{os.getpid()}"
        torch.save(state, temporary)
        os.replace(temporary, checkpoint_path)

    try:
        while len(history) < options["epochs"]:
            epoch = len(history) + 1
            # Every process draws the same order; each takes its share of every step's images.
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
            steps = [b for b in order.split(batch) if len(b) >= run.world]
            augmentations = torch.Generator().manual_seed(seed * 7_919 + epoch * 104_729 + run.rank)
            noise_source = torch.Generator().manual_seed(seed * 15_485_863 + epoch * 32_452_843 + run.rank)
            sums = [0.0, 0.0, 0.0]  # reconstruction, KL, images (this process)
            started = time.perf_counter()
            for number, indices in enumerate(steps, 1):
                mine = indices.tensor_split(run.world)[run.rank].to(run.device)
                x = vt.augment(train_device[mine], config["canvas"], options["flip"], options["shift"], augmentations)
                noise = torch.randn((samples, len(mine), latent), generator=noise_source).to(run.device)
                beta = options["beta"] * (min(1.0, step / options["warmupSteps"]) if options["warmupSteps"] else 1.0)
                mu, logvar, logits, targets = network(x, noise)
                if global_variance:
                    with torch.no_grad():
                        residual = ((targets - torch.sigmoid(logits)) ** 2).sum().item()
                    squared, count = run.sum([residual, targets.numel()])
                    model.likelihood.fit_global(squared, count)
                reconstruction = model.likelihood.negative_log(logits, targets).sum() / samples
                kl = vt.gaussian_kl(mu, logvar).sum()
                # DistributedDataParallel averages over processes: scaled so the gradient is that of the step's mean.
                loss = (reconstruction + beta * kl) * (run.world / len(indices))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if options.get("maxGradientNorm"):
                    torch.nn.utils.clip_grad_norm_(trained, options["maxGradientNorm"])
                optimizer.step()
                step += 1
                sums = [sums[0] + reconstruction.item(), sums[1] + kl.item(), sums[2] + len(mine)]
                if number % max(1, len(steps) // 5) == 0 and number < len(steps):
                    say(f"  epoch {epoch}: {number}/{len(steps)} steps, loss {(sums[0] + sums[1]) / sums[2]:.2f} (this process)")
            reconstruction_sum, kl_sum, images = run.sum(sums)
            seconds = time.perf_counter() - started
            if run.leader:
                generator = torch.Generator().manual_seed(seed + epoch)
                v_rec, v_kl, per_dimension = vt.evaluate(model, held_out, generator)
                history.append({"epoch": epoch, "trainReconstruction": reconstruction_sum / images, "trainKL": kl_sum / images,
                                "validationReconstruction": v_rec, "validationKL": v_kl,
                                "activeDimensions": sum(d > vt.ACTIVE_THRESHOLD for d in per_dimension),
                                "seconds": seconds, "imagesPerSecond": images / seconds})
                save_checkpoint()
                r = history[-1]
                say(f"epoch {epoch}: train -ELBO {r['trainReconstruction'] + r['trainKL']:.2f}, validation -ELBO "
                    f"{v_rec + v_kl:.2f} (rec {v_rec:.2f} + KL {v_kl:.2f}) nats/image, {r['activeDimensions']} active dims, "
                    f"{seconds:.2f}s, {images / seconds:.0f} img/s")
            else:
                history.append(None)  # the leader keeps the record; the others only count epochs
            run.barrier()
    except KeyboardInterrupt:
        if run.leader:
            kept = f"{checkpoint_path} holds epoch {len(history)}" if history else "no checkpoint yet"
            sys.stderr.write(f"train.py: interrupted; {kept}\n")
        sys.exit(130)

    if run.leader:
        description = f"{record['source'] if record else a.data} ({len(train)} train / {len(held_out)} validation"
        description += f", crop {record['crop']})" if record and record.get("crop") else ")"
        training = {"options": options, "history": history, "data": description}
        if record:
            training.update({k: record[v] for k, v in [("crop", "crop"), ("limit", "limit"), ("validationFraction", "validationFraction")]
                             if record.get(v) is not None})
        vt.write_atomically(vt.model_file_bytes(model, training, run.describe()), a.out, overwrite=True)
        say(f"wrote {a.out}; fit its codec tables with: vaecodec calibrate {a.out} --data {a.data} -o CODEC.safetensors")
    run.barrier()
    if run.world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
