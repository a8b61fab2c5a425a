"""``imsim classify``: the encoder of a trained autoencoder + a dense head.

The assignment's form::

    imsim classify -d train-images.idx -dl train-labels.idx -t t10k-images.idx \\
        -tl t10k-labels.idx -model autoencoder-dir

trains in two phases (head only, then everything), prints the test accuracy, the
per-class precision/recall/F1 and the correct/incorrect counts, and writes into
``--out``: ``confusion.png``, ``correct.png``, ``incorrect.png``, the classifier
checkpoint (``model/``) and the classes-as-clusters file of the images of ``-d``
(or of ``--predict FILE``), format in :mod:`imsim.formats.classes`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

_CTX = {"help_option_names": ["-h", "--help"]}


def _units(text: str) -> list[int]:
    try:
        units = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"--fc-units expects integers like 128 or 256,128, got {text!r}") from None
    if not units:
        raise ValueError("--fc-units needs at least one layer size")
    return units


def _scores_text(scores: dict) -> str:
    lines = [f"test accuracy: {100 * scores['accuracy']:.2f}% ({scores['n_correct']} correct, "
             f"{scores['n_incorrect']} incorrect)",
             f"{'class':>5} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>7}"]
    for r in scores["per_class"]:
        lines.append(f"{r['class']:>5} {r['precision']:>9.4f} {r['recall']:>7.4f} "
                     f"{r['f1']:>7.4f} {r['support']:>7}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("classify", context_settings=_CTX)
    def classify_cmd(
        data: str = typer.Option(..., "-d", "--data", help="Training images: idx file."),
        data_labels: Path = typer.Option(..., "-dl", "--data-labels",
                                         help="Training labels: idx file."),
        test: str = typer.Option(..., "-t", "--test", help="Test images: idx file."),
        test_labels: Path = typer.Option(..., "-tl", "--test-labels", help="Test labels: idx file."),
        model: Path = typer.Option(..., "-model", "--model",
                                   help="Trained autoencoder folder (imsim train / reduce)."),
        out: Path = typer.Option(Path("classify-out"), "--out", "-o",
                                 help="Folder for the plots, the classifier and the classes file."),
        classes: Optional[Path] = typer.Option(
            None, "--classes", help="Classes-as-clusters file (default: <out>/classes.txt)."),
        predict_file: Optional[str] = typer.Option(
            None, "--predict", help="Write the classes of these images instead of -d's."),
        fc_units: str = typer.Option("128", "--fc-units",
                                     help="Dense layers of the head: 128, or 256,128 for two."),
        dropout: float = typer.Option(0.3, "--dropout", help="Dropout before each dense layer."),
        head_epochs: int = typer.Option(1, "--head-epochs",
                                        help="Phase 1: epochs training the head alone (0 skips)."),
        epochs: int = typer.Option(15, "--epochs", help="Phase 2: epochs training everything."),
        batch_size: int = typer.Option(128, "--batch-size", help="Batch size."),
        lr: float = typer.Option(5e-3, "--lr", help="Peak learning rate (one-cycle)."),
        shift: int = typer.Option(2, "--shift", help="Random shifts of up to N pixels (augmentation)."),
        val_fraction: float = typer.Option(0.1, "--val-fraction",
                                           help="Share of -d held out for validation."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
        limit: Optional[int] = typer.Option(None, "--limit",
                                            help="Train on the first N images of -d only."),
    ):
        """Train the classifier, report test accuracy, write plots and the classes file."""
        from imsim.datasets import open_images
        from imsim.formats.classes import write_classes
        from imsim.models import (TrainConfig, classification_scores, fit_classifier,
                                  load_checkpoint, predict, save_checkpoint)
        from imsim.report.classifier_plots import examples_grid, plot_confusion

        train_set = open_images(data, labels=data_labels)
        test_set = open_images(test, labels=test_labels)
        autoencoder = load_checkpoint(model, expect_input_shape=train_set.images.shape[1:],
                                      architecture="ConvAutoencoder").model
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, shift=shift,
                             val_fraction=val_fraction, seed=seed, threads=threads)

        def show(rec):
            val = "" if rec["val_loss"] is None else \
                f"  val loss {rec['val_loss']:.4f}  val acc {100 * rec['val_accuracy']:.2f}%"
            typer.echo(f"phase {rec['phase']} epoch {rec['epoch']:>3}  train loss "
                       f"{rec['train_loss']:.4f}{val}  ({rec['seconds']:.1f} s)")

        n_classes = int(max(train_set.labels.max(), test_set.labels.max()) + 1)
        classifier, history = fit_classifier(
            autoencoder, train_set.head(limit), train_set.head(limit).labels,
            fc_units=_units(fc_units), dropout=dropout, n_classes=n_classes,
            head_epochs=head_epochs, train_config=config, callback=show)
        typer.echo(f"trained in {history.seconds:.1f} s")
        predicted = predict(classifier, test_set)
        scores = classification_scores(test_set.labels, predicted, n_classes)
        typer.echo(_scores_text(scores))

        save_checkpoint(out / "model", classifier, history=history,
                        extra={"train_config": config.to_dict(), "head_epochs": head_epochs,
                               "autoencoder": str(model), "test_accuracy": scores["accuracy"]})
        written = [plot_confusion(scores["confusion"], out / "confusion.png")]
        for kind in (True, False):
            path = examples_grid(test_set.images, test_set.labels, predicted,
                                 out / ("correct.png" if kind else "incorrect.png"), correct=kind)
            if path is not None:
                written.append(path)
        typer.echo(f"wrote {', '.join(str(p) for p in written)}; the classifier in {out / 'model'}")

        target = open_images(predict_file) if predict_file else train_set
        classes_path = write_classes(classes or out / "classes.txt", predict(classifier, target),
                                     n_classes)
        typer.echo(f"wrote {classes_path}: the classes of the {len(target)} images of "
                   f"{predict_file or data} ({n_classes} classes)")
