"""Classifier benchmark on MNIST: test accuracy and training time.

Prints one table. The baseline row trains only the dense head on the frozen encoder
of the autoencoder (phase 1 alone, ``--head-epochs`` epochs); the classifier row is
:func:`imsim.models.fit_classifier` with the defaults of ``imsim classify`` (phase 1,
then everything with one-cycle LR and random shifts of up to 2 pixels), trained on
the 60,000 training images (10% held out for validation) on ``--threads`` threads.
"x base" is the classifier's test error divided by the baseline's (below 1 is better).

The autoencoder comes from ``--model`` (e.g. the one ``benchmarks/reduce.py --save``
keeps); without it the default autoencoder is trained first (not counted).

Target (issue "Cluster and classify"): test accuracy >= 99.5% with <= 5 minutes of
training on 2 CPU cores.

    .venv/bin/python benchmarks/classify.py --model benchmarks/results/models/latent10
    .venv/bin/python benchmarks/classify.py --quick      # 12,000 images, 2 epochs
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

ACCURACY_TARGET = 0.995
SECONDS_TARGET = 5 * 60


def _mnist_dir(arg: str | None) -> Path:
    for c in [arg, os.environ.get("IMSIM_MNIST_DIR"), ROOT.parent / "shared" / "datasets" / "mnist"]:
        if c and (Path(c) / "train-images-idx3-ubyte.gz").exists():
            return Path(c)
    sys.exit("MNIST not found: pass --mnist DIR (the folder with train-images-idx3-ubyte.gz)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", help="folder with the MNIST idx files")
    ap.add_argument("--model", help="trained autoencoder folder")
    ap.add_argument("--epochs", type=int, default=15, help="phase 2 epochs")
    ap.add_argument("--head-epochs", type=int, default=1, help="phase 1 epochs")
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--shift", type=int, default=2)
    ap.add_argument("--fc-units", type=int, nargs="+", default=[128])
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--limit", type=int, help="use the first N training images")
    ap.add_argument("--quick", action="store_true", help="12,000 images, 2 epochs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the records here")
    args = ap.parse_args(argv)

    import torch

    from imsim.datasets import read_imageset
    from imsim.models import (Classifier, ClassifierConfig, TrainConfig, classification_scores,
                              fit_autoencoder, fit_classifier, load_checkpoint, predict, train)

    torch.set_num_threads(args.threads)
    d = _mnist_dir(args.mnist)
    train_set = read_imageset(d / "train-images-idx3-ubyte.gz", d / "train-labels-idx1-ubyte.gz")
    test_set = read_imageset(d / "t10k-images-idx3-ubyte.gz", d / "t10k-labels-idx1-ubyte.gz")
    if args.quick:
        args.limit, args.epochs = args.limit or 12000, min(args.epochs, 2)
    train_set = train_set.head(args.limit)
    if args.model:
        autoencoder = load_checkpoint(args.model, expect_input_shape=(28, 28, 1),
                                      architecture="ConvAutoencoder").model
    else:
        print("no --model: training the default autoencoder first (not timed)", flush=True)
        autoencoder, _ = fit_autoencoder(train_set, train_config=TrainConfig(threads=args.threads))
    config = TrainConfig(epochs=args.epochs, lr=args.lr, shift=args.shift, val_fraction=0.1,
                         seed=args.seed, threads=args.threads)
    print(f"MNIST {len(train_set)} training images, {len(test_set)} test; torch "
          f"{torch.__version__}, {args.threads} threads; head {args.fc_units} dropout "
          f"{args.dropout}; phase 1 {args.head_epochs} epochs, phase 2 {config}", flush=True)

    def show(run, rec):
        print(f"  {run}: phase {rec.get('phase', 1)} epoch {rec['epoch']:>2}  train {rec['train_loss']:.4f}  "
              f"val {rec['val_loss']:.4f}  val acc {100 * rec['val_accuracy']:.2f}%  "
              f"{rec['seconds']:.1f} s", flush=True)

    records = []
    # baseline: the head alone on the frozen autoencoder encoder
    torch.manual_seed(args.seed)
    head_only = Classifier(ClassifierConfig(autoencoder=autoencoder.config, n_classes=10,
                                            fc_units=args.fc_units, dropout=args.dropout))
    head_only.load_encoder(autoencoder).freeze_features(True)
    cpu = time.process_time()
    history = train(head_only, train_set.images, train_set.labels,
                    replace(config, epochs=max(args.head_epochs, 1)), loss="cross_entropy",
                    callback=partial(show, "head only"))
    records.append({"method": "head only (frozen encoder)", "train_s": history.seconds,
                    "train_cpu_s": time.process_time() - cpu, "epochs": len(history.epochs),
                    "scores": classification_scores(test_set.labels, predict(head_only, test_set))})

    cpu = time.process_time()
    model, history = fit_classifier(autoencoder, train_set, train_set.labels,
                                    fc_units=args.fc_units, dropout=args.dropout,
                                    head_epochs=args.head_epochs, train_config=config,
                                    callback=partial(show, "classifier"))
    records.append({"method": "classifier (2 phases)", "train_s": history.seconds,
                    "train_cpu_s": time.process_time() - cpu, "epochs": len(history.epochs),
                    "scores": classification_scores(test_set.labels, predict(model, test_set)),
                    "history": history.to_dict()})

    base_err = 1 - records[0]["scores"]["accuracy"]
    print()
    print(f"{'method':<27} {'test acc':>9} {'errors':>6} {'x base':>7} {'train s':>8} "
          f"{'cpu s':>7} {'epochs':>6}  target")
    for i, r in enumerate(records):
        s = r["scores"]
        target = ""
        if i == 1:
            ok = s["accuracy"] >= ACCURACY_TARGET and r["train_s"] <= SECONDS_TARGET
            target = (f">= {100 * ACCURACY_TARGET:.1f}% in <= {SECONDS_TARGET // 60} min: "
                      f"{'met' if ok else 'MISSED'}")
        ratio = (1 - s["accuracy"]) / base_err if base_err > 0 else float("nan")
        print(f"{r['method']:<27} {100 * s['accuracy']:>8.2f}% {s['n_incorrect']:>6} "
              f"{ratio:>7.3f} {r['train_s']:>8.1f} {r['train_cpu_s']:>7.0f} {r['epochs']:>6}  "
              f"{target}")
    if args.json:
        for r in records:
            r["scores"] = {**r["scores"], "confusion": r["scores"]["confusion"].tolist()}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
