"""``imsim train``, ``imsim sweep`` and ``imsim reduce``: the autoencoder from the command line.

The assignment's form still works::

    imsim reduce -d train-images.idx -q t10k-images.idx -od train.latent -oq t10k.latent

With no ``--model`` it first trains the default autoencoder on the data set and saves
it beside the outputs. ``--interactive`` offers the original menu (change a
hyper-parameter and train again, show loss plots, save the model, write the latent
files, exit); it only calls the same library functions as the flags do.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ._data import DATA_DIR
from ._engine import ADDRESS, ENGINE, engine_for

_CTX = {"help_option_names": ["-h", "--help"]}

# flag -> (config, field, type); the menu and `sweep --param` use the same names
HYPER = {
    "layers": ("model", "n_layers", int),
    "kernel": ("model", "kernel_size", int),
    "filters": ("model", "filters", "ints"),
    "latent": ("model", "latent_dim", int),
    "hidden": ("model", "hidden_dim", int),
    "batch-norm": ("model", "batch_norm", "bool"),
    "epochs": ("train", "epochs", int),
    "batch-size": ("train", "batch_size", int),
    "lr": ("train", "lr", float),
    "optimizer": ("train", "optimizer", str),
    "schedule": ("train", "schedule", str),
    "patience": ("train", "patience", int),
    "val-fraction": ("train", "val_fraction", float),
    "seed": ("train", "seed", int),
}


def _parse(kind, text: str):
    text = text.strip()
    if kind == "ints":
        parts = [p for p in text.replace("-", ",").split(",") if p.strip()]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"expected integers like 16,32,64, got {text!r}") from None
        return values[0] if len(values) == 1 else values
    if kind == "bool":
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"expected {kind.__name__}, got {text!r}") from None


def _configs(layers, kernel, filters, latent, hidden, batch_norm, epochs, batch_size, lr,
             optimizer, schedule, patience, val_fraction, seed, threads):
    """Config objects from the flags; a flag left out keeps the library default."""
    from imsim.models import AutoencoderConfig, TrainConfig

    model = {"n_layers": layers, "kernel_size": kernel, "latent_dim": latent,
             "hidden_dim": hidden, "batch_norm": batch_norm,
             "filters": None if filters is None else _parse("ints", filters)}
    model = {k: v for k, v in model.items() if v is not None}
    if "n_layers" in model and "filters" not in model:
        base = AutoencoderConfig().filters
        model["filters"] = (base + [base[-1]] * model["n_layers"])[:model["n_layers"]]
    if isinstance(model.get("filters"), list) and "n_layers" not in model:
        model["n_layers"] = len(model["filters"])
    train = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer,
             "schedule": schedule, "patience": patience, "val_fraction": val_fraction,
             "seed": seed, "threads": threads}
    return (AutoencoderConfig(**model),
            TrainConfig(**{k: v for k, v in train.items() if v is not None}))


def _open(spec, limit, data_dir=None):
    from imsim.datasets import DATASETS, dataset_info, open_images

    if data_dir is not None:
        try:
            dataset_info(str(spec))
        except ValueError:
            raise ValueError(f"--data-dir applies to a named data set ({', '.join(DATASETS)}), "
                             f"not to {spec!r}: leave it out, or pass -d NAME") from None
    images = open_images(str(spec), data_dir=data_dir)
    return images.head(limit)


def _epoch_printer(prefix: str = ""):
    def show(rec):
        val = "" if rec["val_loss"] is None else f"  val {rec['val_loss']:.5f}"
        typer.echo(f"{prefix}epoch {rec['epoch']:>3}  train {rec['train_loss']:.5f}{val}  "
                   f"({rec['seconds']:.1f} s)")
    return show


def _trained_line(history, n_images: int) -> str:
    best = history.best_val_loss
    best = "" if best is None else f", best val MSE {best:.5f} (epoch {history.best_epoch})"
    n_epochs = len(history.epochs)
    return (f"trained on {n_images:,} images: {n_epochs} epoch{'s' * (n_epochs != 1)} in "
            f"{history.seconds:.1f} s{best}")


def _clipping_notes(clipped_dataset: float, clipped_query: float,
                    model_scale: bool = False) -> None:
    """One line per latent file whose values fell outside the scale (clipped)."""
    scale = "the model's latent scale" if model_scale else "the data set's range"
    for share, which in ((clipped_dataset, "data-set"), (clipped_query, "query")):
        if share > 0:
            pct = f"{100 * share:.3f}%" if share >= 5e-6 else "under 0.001%"
            typer.echo(f"note: {pct} of the {which} values fell outside {scale} and were clipped")


def _write_plots(model, history, images, model_dir) -> list[Path]:
    from imsim.models import reconstruct
    from imsim.report.training_plots import plot_history, reconstruction_grid

    model_dir = Path(model_dir)
    sample = images.images[:10]
    return [plot_history(history, model_dir / "loss.png"),
            reconstruction_grid(sample, reconstruct(model, sample), model_dir / "reconstructions.png")]


class _Menu:
    """The original programs' loop, as a thin shell over the library functions."""

    def __init__(self, images, model_config, train_config, out_dir: Path, latent_jobs=None):
        self.images, self.mc, self.tc = images, model_config, train_config
        self.out_dir, self.latent_jobs = out_dir, latent_jobs
        self.model = self.history = None

    def train(self):
        from imsim.models import fit_autoencoder

        typer.echo(f"training: {self.mc}\n          {self.tc}")
        self.model, self.history = fit_autoencoder(self.images, self.mc, self.tc,
                                                   callback=_epoch_printer("  "))
        typer.echo(_trained_line(self.history, len(self.images)))

    def change(self):
        from dataclasses import replace

        name = typer.prompt(f"hyper-parameter ({', '.join(HYPER)})").strip()
        if name not in HYPER:
            typer.echo(f"unknown hyper-parameter {name!r}")
            return
        which, field, kind = HYPER[name]
        value = _parse(kind, typer.prompt("new value"))
        try:
            if which == "model":
                changes = {field: value}
                if field == "filters" and isinstance(value, list):
                    changes["n_layers"] = len(value)
                if field == "n_layers":
                    changes["filters"] = (self.mc.filters + [self.mc.filters[-1]] * value)[:value]
                self.mc = replace(self.mc, **changes)
            else:
                self.tc = replace(self.tc, **{field: value})
        except ValueError as exc:
            typer.echo(f"not changed: {exc}")
            return
        self.train()

    def plots(self):
        for path in _write_plots(self.model, self.history, self.images, self.out_dir):
            typer.echo(f"wrote {path}")

    def save(self) -> Path:
        from imsim.embed import save_autoencoder

        model_dir = Path(typer.prompt("model folder", default=str(self.out_dir)))
        save_autoencoder(model_dir, self.model, self.images, history=self.history,
                         train_config=self.tc)
        typer.echo(f"saved the model to {model_dir}")
        return model_dir

    def write_latents(self):
        from imsim.embed import encode, write_latent_files

        data, query, out_data, out_query = self.latent_jobs
        files = write_latent_files(out_data, encode(self.model, data), out_query,
                                   encode(self.model, query))
        scale = files.scale
        typer.echo(f"wrote {out_data} ({len(data)} x {self.mc.latent_dim}) and {out_query} "
                   f"({len(query)} x {self.mc.latent_dim}), one scale [{scale.min:.4g}, "
                   f"{scale.max:.4g}]")
        _clipping_notes(files.clipped_dataset, files.clipped_query)

    def run(self):
        self.train()
        actions = [("change a hyper-parameter and train again", self.change),
                   ("show the loss plots", self.plots), ("save the model", self.save)]
        if self.latent_jobs is not None:
            actions.append(("write the latent files", self.write_latents))
        while True:
            typer.echo("")
            for i, (text, _) in enumerate(actions, 1):
                typer.echo(f"  {i}) {text}")
            typer.echo(f"  {len(actions) + 1}) exit")
            choice = typer.prompt("choice", type=int)
            if choice == len(actions) + 1:
                return
            if 1 <= choice <= len(actions):
                actions[choice - 1][1]()
            else:
                typer.echo(f"choose 1..{len(actions) + 1}")


def register(app: typer.Typer) -> None:
    hyper_help = "Default: the library default (AutoencoderConfig / TrainConfig)."

    @app.command("train", context_settings=_CTX)
    def train_cmd(
        data: str = typer.Option(..., "-d", "--data",
                                 help="Images: idx file (gz or not), catalog name or folder."),
        out: Path = typer.Option(..., "--out", "-o", help="Model folder to write."),
        data_dir: Optional[Path] = DATA_DIR,
        layers: Optional[int] = typer.Option(None, "--layers", help="Conv blocks (3). " + hyper_help),
        kernel: Optional[int] = typer.Option(None, "--kernel", help="Kernel size, odd (3)."),
        filters: Optional[str] = typer.Option(None, "--filters",
                                              help="Filters per block: 32 or 16,32,64 (16,32,64)."),
        latent: Optional[int] = typer.Option(None, "--latent", help="Latent dimension (10)."),
        hidden: Optional[int] = typer.Option(None, "--hidden",
                                             help="Dense layer around the latent, 0 = none (512)."),
        batch_norm: Optional[bool] = typer.Option(None, "--batch-norm/--no-batch-norm",
                                                  help="BatchNorm after each conv (on)."),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs (12)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size (128)."),
        lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (0.02)."),
        optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam or rmsprop (adam)."),
        schedule: Optional[str] = typer.Option(None, "--schedule",
                                               help="onecycle, cosine or constant (onecycle)."),
        patience: Optional[int] = typer.Option(None, "--patience",
                                               help="Early stopping patience in epochs (off)."),
        val_fraction: Optional[float] = typer.Option(None, "--val-fraction",
                                                     help="Validation share (0.2)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (0)."),
        threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
        limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N images."),
        plots: bool = typer.Option(True, "--plots/--no-plots",
                                   help="Write loss.png and reconstructions.png in the model folder."),
        interactive: bool = typer.Option(False, "--interactive",
                                         help="The original menu: retrain, plots, save, exit."),
    ):
        """Train a convolutional autoencoder and save it (weights + config + latent scale)."""
        images = _open(data, limit, data_dir)
        mc, tc = _configs(layers, kernel, filters, latent, hidden, batch_norm, epochs, batch_size,
                          lr, optimizer, schedule, patience, val_fraction, seed, threads)
        if interactive:
            _Menu(images, mc, tc, out).run()
            return
        from imsim.embed import fit_and_save

        model, history, scale = fit_and_save(images, out, mc, tc, callback=_epoch_printer())
        typer.echo(_trained_line(history, len(images)))
        if plots:
            _write_plots(model, history, images, out)
        typer.echo(f"saved the model to {out} (latent scale [{scale.min:.4g}, {scale.max:.4g}])")

    @app.command("sweep", context_settings=_CTX)
    def sweep_cmd(
        data: str = typer.Option(..., "-d", "--data", help="Images (as for train)."),
        param: str = typer.Option(..., "--param", "-p",
                                  help=f"Hyper-parameter to vary: {', '.join(HYPER)}."),
        values: List[str] = typer.Option(..., "--values", "-v",
                                         help="Values, comma-separated (filters: one list per "
                                              "--values, e.g. -v 16,32,64 -v 32,64,64)."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for sweep.csv/json and PNGs."),
        data_dir: Optional[Path] = DATA_DIR,
        layers: Optional[int] = typer.Option(None, "--layers", help="Base: conv blocks."),
        kernel: Optional[int] = typer.Option(None, "--kernel", help="Base: kernel size."),
        filters: Optional[str] = typer.Option(None, "--filters", help="Base: filters per block."),
        latent: Optional[int] = typer.Option(None, "--latent", help="Base: latent dimension."),
        hidden: Optional[int] = typer.Option(None, "--hidden", help="Base: dense layer size."),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="Base: epochs."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Base: batch size."),
        lr: Optional[float] = typer.Option(None, "--lr", help="Base: peak learning rate."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (0)."),
        threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
        limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N images."),
    ):
        """Train one model per value of one hyper-parameter; table + plots in --out."""
        from imsim.models.sweep import run_sweep, write_sweep
        from imsim.report.training_plots import plot_sweep

        if param not in HYPER or param in ("seed", "patience", "val-fraction"):
            raise ValueError(f"cannot sweep {param!r}; choose one of "
                             f"{', '.join(k for k in HYPER if k not in ('seed', 'patience', 'val-fraction'))}")
        _, field, kind = HYPER[param]
        parsed = ([_parse(kind, v) for v in values] if kind == "ints" else
                  [_parse(kind, p) for v in values for p in v.split(",") if p.strip()])
        images = _open(data, limit, data_dir)
        mc, tc = _configs(layers, kernel, filters, latent, hidden, None, epochs, batch_size, lr,
                          None, None, None, None, seed, threads)
        result = run_sweep(images, field, parsed, model_config=mc, train_config=tc,
                           callback=lambda v, rec: _epoch_printer(f"{param}={v}  ")(rec))
        csv_path, _ = write_sweep(result, out)
        plot_sweep(result, out)
        typer.echo(f"{param:>12} {'params':>9} {'best val':>9} {'train':>9} {'seconds':>8}")
        for r in result.records:
            typer.echo(f"{str(r['value']):>12} {r['n_params']:>9} {r['best_val_loss']:>9.5f} "
                       f"{r['final_train_loss']:>9.5f} {r['seconds']:>8.1f}")
        typer.echo(f"wrote {csv_path} and plots in {out}")

    @app.command("reduce", context_settings=_CTX)
    def reduce_cmd(
        dataset: str = typer.Option(..., "-d", "--dataset", help="Data set: idx images file."),
        queryset: str = typer.Option(..., "-q", "--queryset", help="Query set: idx images file."),
        out_dataset: Path = typer.Option(..., "-od", "--output-dataset",
                                         help="Latent file to write for the data set."),
        out_query: Path = typer.Option(..., "-oq", "--output-query",
                                       help="Latent file to write for the query set."),
        model: Optional[Path] = typer.Option(
            None, "--model", "-m",
            help="Trained model folder; default: train one and save it beside the outputs."),
        interactive: bool = typer.Option(False, "--interactive",
                                         help="The original menu: retrain, plots, save, "
                                              "write the latent files, exit."),
        engine: str = ENGINE,
        address: Optional[str] = ADDRESS,
    ):
        """Encode a data set and a query set into 0..25500 latent files (one shared scale)."""
        from imsim._io import check_output

        check_output(out_dataset, dataset, queryset)
        check_output(out_query, dataset, queryset)
        if interactive:
            if model is not None:
                raise ValueError("--interactive trains its own model; leave out --model")
            from imsim.models import AutoencoderConfig, TrainConfig

            data, query = _open(dataset, None), _open(queryset, None)
            _Menu(data, AutoencoderConfig(), TrainConfig(), out_dataset.parent / "model",
                  latent_jobs=(data, query, out_dataset, out_query)).run()
            return
        from imsim.embed import reduce_files

        if model is None:
            typer.echo(f"no --model: training the default autoencoder on {dataset}")
        with engine_for(engine, address) as eng:  # encoding runs there; training stays here
            info = reduce_files(dataset, queryset, out_dataset, out_query, model_dir=model,
                                callback=_epoch_printer(), engine=eng)
        if info["trained"]:
            typer.echo(_trained_line(info["history"], info["n_dataset"]))
            typer.echo(f"saved the model to {info['model_dir']}")
        scale = info["scale"]
        typer.echo(f"wrote {out_dataset} ({info['n_dataset']} x {info['latent_dim']}) and "
                   f"{out_query} ({info['n_query']} x {info['latent_dim']}), values 0..25500 on "
                   f"one scale [{scale.min:.4g}, {scale.max:.4g}] (in {out_dataset}.json)")
        if info["scale_source"] == "dataset" and not info["trained"]:
            typer.echo(f"note: {model} holds no latent scale: fitted one on the data set "
                       f"(the model folder is unchanged)")
        _clipping_notes(info["clipped_dataset"], info["clipped_query"],
                        model_scale=info["scale_source"] == "model")
