"""Autoencoder benchmark on MNIST: reconstruction MSE, training time, encoding time.

Prints one table. The baseline row is PCA with as many components as the latent
(fitted on the same 80% training split, measured on the same 20% validation split):
"x PCA" is the autoencoder's validation MSE divided by PCA's (below 1 is better).
MSE is per pixel with pixels in [0, 1] (the training loss). "train s" is wall time,
"cpu s" the process's CPU time over all threads (on a busy machine wall time grows,
CPU time much less; on a quiet one wall ~ CPU / threads). Each autoencoder row is
the library default configuration with that latent dimension, trained on the 60,000
training images (48,000 train / 12,000 validation, seed 0) on ``--threads`` CPU
threads; "test MSE" is measured on the 10,000 test images. The encoding row times
:func:`imsim.embed.encode` on all 70,000 images with the latent-10 model.

Targets (issue "Reduce"): latent 10 val MSE <= 0.0100 with training <= 8 min;
latent 30 <= 0.0040; encoding 70,000 images <= 15 s; all on 2 CPU cores.

    .venv/bin/python benchmarks/reduce.py                 # latent 10 and 30, full data
    .venv/bin/python benchmarks/reduce.py --latent 10     # one size
    .venv/bin/python benchmarks/reduce.py --quick         # 12,000 images, 2 epochs
    .venv/bin/python benchmarks/reduce.py --save benchmarks/results/models   # keep models
    .venv/bin/python benchmarks/reduce.py --steps --threads 1   # cost of a training step

``--steps`` trains nothing to the end: it times training steps (forward, backward,
Adam) of the demo's autoencoder variants on real MNIST batches and prints CPU and wall
seconds per 1,000 training images, interleaved over ``--repeats`` rounds so a load
that changes hits every row alike. The baseline row is the demo's former setting
(max-pooling, float32, hidden 256, batch 128); "x base" is its CPU time over the row's.
With ``--threads 1`` CPU seconds are the work itself, free of thread waits.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TARGETS = {10: 0.0100, 30: 0.0040}
TRAIN_SECONDS_TARGET = 8 * 60
ENCODE_SECONDS_TARGET = 15.0


def _mnist_dir(arg: str | None) -> Path:
    for c in [arg, os.environ.get("IMSIM_MNIST_DIR"), ROOT.parent / "shared" / "datasets" / "mnist"]:
        if c and (Path(c) / "train-images-idx3-ubyte.gz").exists():
            return Path(c)
    sys.exit("MNIST not found: pass --mnist DIR (the folder with train-images-idx3-ubyte.gz)")


def _pca_row(train, val, k: int, seed: int) -> dict:
    from sklearn.decomposition import PCA

    start = time.perf_counter()
    a = train.reshape(len(train), -1).astype(np.float32) / 255
    b = val.reshape(len(val), -1).astype(np.float32) / 255
    pca = PCA(n_components=k, random_state=seed).fit(a)
    rec = pca.inverse_transform(pca.transform(b))
    return {"method": f"PCA-{k}", "latent": k, "val_mse": float(np.mean((rec - b) ** 2)),
            "test_mse": None, "train_s": time.perf_counter() - start, "train_cpu_s": None,
            "epochs": None}


def _test_mse(model, images) -> float:
    from imsim.models import reconstruct

    rec = reconstruct(model, images).astype(np.float32) / 255
    # reconstruct() rounds to uint8; that adds at most (0.5/255)^2 per pixel
    return float(np.mean((rec - images.astype(np.float32) / 255) ** 2))


#: (label, AutoencoderConfig changes, precision, batch size); the first row is the baseline
STEP_VARIANTS = [
    ("pool, float32, h256, batch 128 (the former demo)", {"hidden_dim": 256}, "float32", 128),
    ("pool, bfloat16, h256, batch 128", {"hidden_dim": 256}, "bfloat16", 128),
    ("stride, float32, h256, batch 128", {"hidden_dim": 256, "downsample": "stride"},
     "float32", 128),
    ("stride, bfloat16, h256, batch 128", {"hidden_dim": 256, "downsample": "stride"},
     "bfloat16", 128),
    ("stride, bfloat16, h512, batch 128", {"downsample": "stride"}, "bfloat16", 128),
    ("stride, bfloat16, h512, batch 256 (the demo)", {"downsample": "stride"}, "bfloat16", 256),
]


def _step_costs(images, threads: int, repeats: int, n_images: int = 3072) -> list[dict]:
    """CPU and wall seconds per 1,000 images of training steps, per STEP_VARIANTS row."""
    import torch

    from imsim.models import AutoencoderConfig, ConvAutoencoder, TrainConfig, to_tensor
    from imsim.models.training import _optimizer

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    runs = []
    for label, changes, precision, batch in STEP_VARIANTS:
        torch.manual_seed(0)
        model = ConvAutoencoder(AutoencoderConfig(**changes)).to(memory_format=torch.channels_last)
        runs.append((label, model, _optimizer(model, TrainConfig()), precision, batch))

    def steps(model, opt, precision, batch, n):
        model.train()
        cpu = wall = 0.0
        count = max(2, n // batch)
        for _ in range(count):
            x = to_tensor(images[np.sort(rng.choice(len(images), batch, replace=False))])
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
                out = model(x)
            loss = torch.nn.functional.mse_loss(out.float(), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            cpu += time.process_time() - c0
            wall += time.perf_counter() - t0
        return 1e3 * cpu / (count * batch), 1e3 * wall / (count * batch)

    for _, model, opt, precision, batch in runs:  # warm-up: oneDNN builds its kernels
        steps(model, opt, precision, batch, 2 * batch)
    times = {label: [] for label, *_ in runs}
    for _ in range(repeats):
        for label, model, opt, precision, batch in runs:
            times[label].append(steps(model, opt, precision, batch, n_images))
    return [{"variant": label, "cpu_s": float(np.median([t[0] for t in times[label]])),
             "wall_s": float(np.median([t[1] for t in times[label]]))} for label in times]


def _print_steps(rows: list[dict], threads: int) -> None:
    base = rows[0]["cpu_s"]
    print(f"training-step cost per 1,000 images, {threads} thread(s), median of the rounds; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'variant':<48} {'cpu s':>7} {'wall s':>7} {'x base':>7}")
    for r in rows:
        print(f"{r['variant']:<48} {r['cpu_s']:>7.3f} {r['wall_s']:>7.3f} "
              f"{base / r['cpu_s']:>7.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", help="folder with the MNIST idx files")
    ap.add_argument("--latent", type=int, nargs="+", default=[10, 30])
    ap.add_argument("--epochs", type=int, help="override the default epochs")
    ap.add_argument("--limit", type=int, help="use the first N training images")
    ap.add_argument("--quick", action="store_true", help="12,000 images, 2 epochs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", help="folder to keep the trained models in (latent<k>/)")
    ap.add_argument("--json", help="write the records here")
    ap.add_argument("--steps", action="store_true",
                    help="time training steps of the demo's variants instead (see above)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of --steps")
    args = ap.parse_args(argv)
    if args.steps:
        from imsim.datasets import read_images

        images = read_images(_mnist_dir(args.mnist) / "train-images-idx3-ubyte.gz")[:8192]
        _print_steps(_step_costs(images, args.threads, args.repeats), args.threads)
        return 0

    import torch

    from imsim.datasets import read_images
    from imsim.embed import encode
    from imsim.models import AutoencoderConfig, TrainConfig, fit_autoencoder, save_checkpoint
    from imsim.models.training import _split

    torch.set_num_threads(args.threads)
    d = _mnist_dir(args.mnist)
    train_images = read_images(d / "train-images-idx3-ubyte.gz")
    test_images = read_images(d / "t10k-images-idx3-ubyte.gz")
    if args.quick:
        args.limit, args.epochs = args.limit or 12000, args.epochs or 2
    if args.limit:
        train_images = train_images[: args.limit]
    train_config = TrainConfig(seed=args.seed, threads=args.threads)
    if args.epochs:
        train_config = replace(train_config, epochs=args.epochs)
    tr_idx, va_idx = _split(len(train_images), train_config.val_fraction, train_config.seed)

    print(f"MNIST {len(train_images)} training images ({len(tr_idx)} train / {len(va_idx)} val), "
          f"{len(test_images)} test; torch {torch.__version__}, {args.threads} threads; "
          f"{train_config}", flush=True)
    records, models = [], {}
    for k in args.latent:
        base = _pca_row(train_images[tr_idx], train_images[va_idx], k, args.seed)
        records.append(base)
        config = AutoencoderConfig(latent_dim=k)
        print(f"training latent {k}: {config}", flush=True)
        cpu_start = time.process_time()
        model, history = fit_autoencoder(
            train_images, config, train_config,
            callback=lambda r: print(f"  epoch {r['epoch']:>2}  train {r['train_loss']:.5f}  "
                                     f"val {r['val_loss']:.5f}  {r['seconds']:.1f} s", flush=True))
        cpu_s = time.process_time() - cpu_start
        models[k] = model
        rec = {"method": "autoencoder", "latent": k, "val_mse": history.best_val_loss,
               "test_mse": _test_mse(model, test_images), "train_s": history.seconds,
               "train_cpu_s": cpu_s,
               "epochs": len(history.epochs), "baseline_mse": base["val_mse"],
               "n_params": sum(p.numel() for p in model.parameters()),
               "target_mse": TARGETS.get(k), "history": history.to_dict()}
        records.append(rec)
        if args.save:
            save_checkpoint(Path(args.save) / f"latent{k}", model, history=history,
                            extra={"train_config": train_config.to_dict()})

    encode_row = None
    k_enc = 10 if 10 in models else next(iter(models))
    all_images = np.concatenate([read_images(d / "train-images-idx3-ubyte.gz"), test_images])
    encode(models[k_enc], all_images[:2048], progress=False)  # warm-up
    start = time.perf_counter()
    encode(models[k_enc], all_images, progress=False)
    encode_row = {"method": f"encode {len(all_images)} images", "latent": k_enc,
                  "seconds": time.perf_counter() - start}

    print()
    print(f"{'method':<12} {'latent':>6} {'val MSE':>9} {'x PCA':>7} {'test MSE':>9} "
          f"{'train s':>8} {'cpu s':>7} {'epochs':>6}  target")
    for r in records:
        ratio = r["val_mse"] / r["baseline_mse"] if "baseline_mse" in r else 1.0
        test = "" if r["test_mse"] is None else f"{r['test_mse']:.5f}"
        epochs = "" if r["epochs"] is None else str(r["epochs"])
        cpu = "" if r["train_cpu_s"] is None else f"{r['train_cpu_s']:.0f}"
        target = ""
        if r.get("target_mse") is not None:
            ok = r["val_mse"] <= r["target_mse"] and r["train_s"] <= TRAIN_SECONDS_TARGET
            target = (f"<= {r['target_mse']:.4f} in <= {TRAIN_SECONDS_TARGET // 60} min: "
                      f"{'met' if ok else 'MISSED'}")
        print(f"{r['method']:<12} {r['latent']:>6} {r['val_mse']:>9.5f} {ratio:>7.3f} "
              f"{test:>9} {r['train_s']:>8.1f} {cpu:>7} {epochs:>6}  {target}")
    ok = encode_row["seconds"] <= ENCODE_SECONDS_TARGET
    print(f"{encode_row['method']} (latent {k_enc}): {encode_row['seconds']:.2f} s  "
          f"target <= {ENCODE_SECONDS_TARGET:.0f} s: {'met' if ok else 'MISSED'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"records": records, "encode": encode_row},
                                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
