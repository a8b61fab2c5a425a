"""One training loop for every model: the autoencoder and the classifier.

``train()`` reads top to bottom: split, then per epoch ``_train_one_epoch`` and
``_evaluate``, early stopping on the validation loss, best weights restored.
Pixels become tensors in exactly one place, :func:`to_tensor`, used by training and
by :mod:`imsim.embed` alike, so a model always sees its inputs scaled the same way.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .._progress import progress as _progress_bar
from .._threads import torch_thread_count
from .._validation import check_int, check_positive_int

OPTIMIZERS = ("adam", "rmsprop")
SCHEDULES = ("onecycle", "cosine", "constant")
LOSSES = ("mse", "cross_entropy")
PRECISIONS = ("float32", "bfloat16", "auto")


@dataclass
class TrainConfig:
    """How to train: the defaults are those measured in ``benchmarks/reduce.py``."""

    epochs: int = 12  # passes over the training split (the LR schedule spans them all)
    batch_size: int = 128
    lr: float = 2e-2  # peak learning rate ("onecycle") or the constant rate
    optimizer: str = "adam"  # "adam" or "rmsprop" (the original programs' choice)
    schedule: str = "onecycle"  # "onecycle" warms up then anneals to ~0 by the last epoch
    weight_decay: float = 0.0
    val_fraction: float = 0.2  # held out for validation/early stopping, as the original work
    patience: int | None = None  # stop after this many epochs without a better val loss
    shift: int = 0  # random translation of the inputs by up to +-shift pixels (augmentation)
    seed: int = 0  # split, shuffling, weight initialisation (via fit_*) and dropout
    device: str = "auto"  # "auto" (CUDA if present, else CPU), "cpu", "cuda", "cuda:1", ...
    threads: int | None = None  # CPU threads for torch; None keeps torch's choice
    # "bfloat16" runs the training steps' forward and backward passes under bfloat16
    # autocast (weights, optimizer, loss and validation stay float32): about 2x faster
    # on CPUs with AVX-512 BF16 or AMX, slower on CPUs without them; "auto" is
    # bfloat16 where the device runs it natively (fast_bfloat16), else float32
    precision: str = "float32"

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            check_positive_int(getattr(self, name), name)
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.patience is not None:
            check_positive_int(self.patience, "patience")
        check_int(self.shift, "shift", low=0)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class History:
    """Per-epoch record of a training run.

    ``epochs`` holds one dict per epoch: ``epoch`` (1-based), ``train_loss``,
    ``val_loss`` (None without a validation split), ``seconds`` (wall time of the
    epoch), ``lr`` (learning rate at its end), ``precision`` (of the training steps:
    "float32" or "bfloat16") and, for classifiers, ``val_accuracy``.
    Losses are means per element: per pixel for "mse" on pixels scaled to [0, 1],
    per image for "cross_entropy".
    """

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int | None = None  # 1-based epoch whose weights the model holds
    stopped_early: bool = False

    @property
    def train_loss(self) -> list[float]:
        return [e["train_loss"] for e in self.epochs]

    @property
    def val_loss(self) -> list[float | None]:
        return [e["val_loss"] for e in self.epochs]

    @property
    def best_val_loss(self) -> float | None:
        if self.best_epoch is None:
            return None
        return self.epochs[self.best_epoch - 1]["val_loss"]

    @property
    def seconds(self) -> float:
        """Total training wall time in seconds."""
        return float(sum(e["seconds"] for e in self.epochs))

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "best_epoch": self.best_epoch,
                "stopped_early": self.stopped_early}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(epochs=list(d.get("epochs", [])), best_epoch=d.get("best_epoch"),
                   stopped_early=bool(d.get("stopped_early", False)))


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            line = next((line for line in f if line.startswith("flags")), "")
    except OSError:  # not Linux: no way to tell, so no bfloat16
        return frozenset()
    return frozenset(line.partition(":")[2].split())


def fast_bfloat16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` runs bfloat16 matrix products natively (faster than float32).

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: the AVX-512 BF16 or AMX-BF16
    instructions (read from ``/proc/cpuinfo``; False where it cannot be read), where
    oneDNN's bfloat16 convolutions run about 2x faster than float32 ones; without
    them bfloat16 is emulated and slower.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """``"float32"`` or ``"bfloat16"``: ``precision`` with ``"auto"`` decided for ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bfloat16" if fast_bfloat16(device) else "float32"
    return precision


def choose_device(device: str = "auto") -> torch.device:
    """CUDA when asked for or, with "auto", when present; otherwise the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available")
    return dev


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block on ``threads`` CPU threads, then restore torch's setting.

    None uses ``IMSIM_THREADS`` when set (see :mod:`imsim._threads`), else leaves
    torch's default. The thread count changes the order of float sums, so runs on
    different counts differ in the last bits; restoring keeps one run's choice from
    leaking into the next.
    """
    if threads is None:
        threads = torch_thread_count()
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 pixels -> the float tensor every model takes: the one place pixels are scaled.

    Parameters
    ----------
    images : ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8

    Returns
    -------
    Tensor of shape (N, C, H, W) (channels-last memory), dtype float32,
        values ``pixel / 255`` in [0, 1]
    """
    images = np.ascontiguousarray(images)
    if not images.flags.writeable:  # torch refuses read-only buffers (e.g. np.frombuffer)
        images = images.copy()
    t = torch.from_numpy(images).to(device)
    if t.ndim == 3:
        t = t.unsqueeze(1)
    else:
        t = t.permute(0, 3, 1, 2)
    # channels-last runs the convolutions 1.5-2x faster on CPUs (oneDNN)
    return t.float().div_(255.0).contiguous(memory_format=torch.channels_last)


def _as_batch(values: np.ndarray, device) -> torch.Tensor:
    """Inputs or targets -> tensors: pixels via :func:`to_tensor`, labels as int64."""
    if values.dtype == np.uint8 and values.ndim >= 3:
        return to_tensor(values, device)
    if values.dtype.kind in "iu":
        return torch.from_numpy(values.astype(np.int64, copy=False)).to(device)
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(device)


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by its own random (dy, dx) in [-max_shift, max_shift], zero fill."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    s = max_shift
    padded = nn.functional.pad(x, (s, s, s, s))
    offsets = torch.randint(0, 2 * s + 1, (n, 2), generator=generator)
    out = torch.empty_like(x)
    codes = offsets[:, 0] * (2 * s + 1) + offsets[:, 1]
    for code in codes.unique().tolist():
        rows = (codes == code).nonzero().squeeze(1).to(x.device)
        dy, dx = divmod(code, 2 * s + 1)
        out[rows] = padded[rows, :, dy:dy + h, dx:dx + w]
    return out


def _loss_fn(loss) -> Callable:
    if callable(loss):
        return loss
    if loss == "mse":
        return nn.MSELoss()
    if loss == "cross_entropy":
        return nn.CrossEntropyLoss()
    raise ValueError(f"loss must be one of {LOSSES} or a callable, got {loss!r}")


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    if config.optimizer == "adam":
        # the fused kernel updates every tensor in one pass (on the CPU torch's default
        # is a Python loop over the tensors, ~10 passes each)
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay,
                                fused=True)
    return torch.optim.RMSprop(params, lr=config.lr, weight_decay=config.weight_decay)


def _scheduler(opt, config: TrainConfig, steps_per_epoch: int):
    total = config.epochs * steps_per_epoch
    if config.schedule == "onecycle" and total >= 4:  # shorter runs cannot warm up
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total,
                                                   pct_start=max(0.25, 2 / total))
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return None


def _split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and (n_val < 1 or n_val >= n):
        raise ValueError(f"val_fraction={val_fraction} leaves no training or no validation "
                         f"images out of {n}")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _train_one_epoch(model, inputs, targets, idx, opt, sched, loss_fn, config, device,
                     rng: np.random.Generator, gen: torch.Generator, desc: str,
                     show: bool) -> float:
    model.train()
    low_precision = resolve_precision(config.precision, device) == "bfloat16"
    order = idx[rng.permutation(len(idx))]
    n_batches = math.ceil(len(order) / config.batch_size)
    total, count = 0.0, 0
    with _progress_bar(total=n_batches, desc=desc, unit="batch", show=None if show else False) as bar:
        for b in range(n_batches):
            rows = np.sort(order[b * config.batch_size:(b + 1) * config.batch_size])
            if len(rows) < 2 and n_batches > 1:  # BatchNorm cannot train on one sample
                continue
            x = random_shift(_as_batch(inputs[rows], device), config.shift, gen)
            # an autoencoder's target is its (possibly shifted) input
            y = x if targets is inputs else _as_batch(targets[rows], device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=low_precision):
                out = model(x)
            loss = loss_fn(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += loss.item() * len(rows)
            count += len(rows)
            bar.update(1)
            bar.set_postfix(loss=f"{total / count:.5f}", refresh=False)
    return total / max(count, 1)


@torch.inference_mode()
def _evaluate(model, inputs, targets, idx, loss_fn, device, batch_size: int = 1024
              ) -> tuple[float, float | None]:
    """Mean loss over ``idx`` and, when the targets are class labels, the accuracy."""
    model.eval()
    labels = targets is not inputs and targets.dtype.kind in "iu" and targets.ndim == 1
    total, correct = 0.0, 0
    for start in range(0, len(idx), batch_size):
        rows = idx[start:start + batch_size]
        x = _as_batch(inputs[rows], device)
        y = x if targets is inputs else _as_batch(targets[rows], device)
        out = model(x)
        total += loss_fn(out, y).item() * len(rows)
        if labels:
            correct += int((out.argmax(1) == y).sum())
    return total / len(idx), (correct / len(idx) if labels else None)


def train(model: nn.Module, train_inputs, train_targets, config: TrainConfig | None = None, *,
          loss="mse", validation=None, progress: bool = True,
          callback: Callable[[dict], None] | None = None) -> "History":
    """Train ``model`` in place and return its per-epoch :class:`History`.

    Parameters
    ----------
    model : torch.nn.Module
        Takes (N, C, H, W) float32 pixels in [0, 1].
    train_inputs : ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8
        Scaled to [0, 1] batch by batch with :func:`to_tensor`.
    train_targets : ndarray
        The same array as ``train_inputs`` for an autoencoder (reconstruction), or
        int64 class labels of shape (N,) for a classifier.
    config : TrainConfig, optional
    loss : {"mse", "cross_entropy"} or callable(output, target) -> scalar tensor
    validation : (inputs, targets), optional
        Held-out data to use instead of splitting ``config.val_fraction`` off the
        training data.
    progress : bool
        Show a progress bar per epoch (on a terminal, see :mod:`imsim._progress`).
    callback : callable(dict), optional
        Called after each epoch with that epoch's record (see :class:`History`).

    Returns
    -------
    History
        The model holds the weights of ``history.best_epoch``: the lowest validation
        loss (or training loss without validation). Training stops early when the
        validation loss has not improved for ``config.patience`` epochs.
    """
    config = config or TrainConfig()
    inputs = np.asarray(train_inputs)
    targets = inputs if train_targets is train_inputs else np.asarray(train_targets)
    if inputs.dtype != np.uint8 or inputs.ndim not in (3, 4):
        raise TypeError(f"train_inputs must be uint8 images (N, H, W[, C]), got dtype "
                        f"{inputs.dtype} shape {inputs.shape}")
    if len(targets) != len(inputs):
        raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
    if len(inputs) < 2:
        raise ValueError(f"need at least 2 training images, got {len(inputs)}")
    loss_fn = _loss_fn(loss)
    with torch_threads(config.threads):
        return _fit(model, inputs, targets, config, loss_fn, validation, progress, callback)


def _fit(model, inputs, targets, config, loss_fn, validation, progress, callback) -> History:
    device = choose_device(config.device)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    if validation is not None:
        val_inputs = np.asarray(validation[0])
        val_targets = val_inputs if validation[1] is validation[0] else np.asarray(validation[1])
        train_idx, val_idx = np.arange(len(inputs)), np.arange(len(val_inputs))
    else:
        train_idx, val_idx = _split(len(inputs), config.val_fraction, config.seed)
        val_inputs, val_targets = inputs, targets
    model.to(device=device, memory_format=torch.channels_last)
    opt = _optimizer(model, config)
    sched = _scheduler(opt, config, math.ceil(len(train_idx) / config.batch_size))

    history = History()
    best_loss, best_state, waited = math.inf, None, 0
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        train_loss = _train_one_epoch(model, inputs, targets, train_idx, opt, sched, loss_fn,
                                      config, device, rng, gen,
                                      f"epoch {epoch}/{config.epochs}", progress)
        val_loss, val_acc = (None, None)
        if len(val_idx):
            val_loss, val_acc = _evaluate(model, val_inputs, val_targets, val_idx, loss_fn, device)
        record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                  "seconds": time.perf_counter() - start, "lr": opt.param_groups[0]["lr"],
                  "precision": resolve_precision(config.precision, device)}
        if val_acc is not None:
            record["val_accuracy"] = val_acc
        history.epochs.append(record)
        if callback is not None:
            callback(record)
        current = val_loss if val_loss is not None else train_loss
        if current < best_loss:
            best_loss, waited, history.best_epoch = current, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if config.patience is not None and waited >= config.patience:
                history.stopped_early = epoch < config.epochs
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
