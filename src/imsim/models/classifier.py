"""The classifier: the convolutional encoder of a trained autoencoder + a dense head.

Features are the encoder's conv blocks up to the flatten (the autoencoder's dense
bottleneck is left out: it was trained to reconstruct, and 10 numbers are a narrow
path for classification). The head is Dropout -> [Linear -> ReLU -> Dropout] per
entry of ``fc_units`` -> Linear to the classes (logits). Training follows the
original work in two phases with the one :func:`~imsim.models.train` loop: first
the head alone on frozen features (BatchNorm statistics frozen too), then everything.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch import nn

from .._validation import check_int, check_positive_int
from .autoencoder import AutoencoderConfig, ConvAutoencoder, build_encoder, model_pixels


@dataclass
class ClassifierConfig:
    """Architecture of a :class:`Classifier` (defaults measured in ``benchmarks/classify.py``)."""

    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    n_classes: int = 10
    fc_units: int | list[int] = 128  # hidden dense layers of the head (a list for several)
    dropout: float = 0.3  # before every dense layer of the head

    def __post_init__(self):
        if isinstance(self.autoencoder, dict):
            self.autoencoder = AutoencoderConfig.from_dict(self.autoencoder)
        units = [self.fc_units] if isinstance(self.fc_units, int) else list(self.fc_units)
        self.fc_units = [check_positive_int(u, "fc_units") for u in units]
        check_int(self.n_classes, "n_classes", low=2)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["autoencoder"] = self.autoencoder.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _n_feature_layers(config: AutoencoderConfig) -> int:
    """Layers of :func:`build_encoder` up to and including the Flatten."""
    return next(i for i, layer in enumerate(build_encoder(config))
                if isinstance(layer, nn.Flatten)) + 1


class Classifier(nn.Module):
    """Encoder features + dense head; ``forward(x)`` returns logits (N, n_classes).

    ``x`` is float (N, C, H, W) in [0, 1], as :func:`imsim.models.to_tensor` makes it.
    """

    architecture = "Classifier"

    def __init__(self, config: ClassifierConfig | None = None):
        super().__init__()
        self.config = config if config is not None else ClassifierConfig()
        ae = self.config.autoencoder
        # the same layer indices as ConvAutoencoder.encoder, so its weights load as they are
        self.features = build_encoder(ae)[:_n_feature_layers(ae)]
        ch, h, w = ae.bottleneck_shape
        n_in, head = ch * h * w, []
        for units in self.config.fc_units:
            head += [nn.Dropout(self.config.dropout), nn.Linear(n_in, units), nn.ReLU(inplace=True)]
            n_in = units
        head += [nn.Dropout(self.config.dropout), nn.Linear(n_in, self.config.n_classes)]
        self.head = nn.Sequential(*head)
        self.features_frozen = False

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.config.autoencoder.input_shape

    @property
    def n_classes(self) -> int:
        return self.config.n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def load_encoder(self, autoencoder: ConvAutoencoder) -> "Classifier":
        """Copy the conv weights (and BatchNorm statistics) of a trained autoencoder."""
        if autoencoder.config.to_dict() != self.config.autoencoder.to_dict():
            raise ValueError("the autoencoder's architecture differs from this classifier's")
        n = len(self.features)
        state = {k: v for k, v in autoencoder.encoder.state_dict().items()
                 if int(k.split(".")[0]) < n}
        self.features.load_state_dict(state, strict=True)
        return self

    def freeze_features(self, frozen: bool = True) -> None:
        """Train the head alone (True) or everything (False)."""
        self.features_frozen = frozen
        for p in self.features.parameters():
            p.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.features_frozen:  # frozen features keep their BatchNorm statistics
            self.features.eval()
        return self

    def config_dict(self) -> dict:
        return self.config.to_dict()

    @classmethod
    def from_config_dict(cls, d: dict) -> "Classifier":
        return cls(ClassifierConfig.from_dict(d))


def fit_classifier(autoencoder: ConvAutoencoder, images, labels, *, fc_units=128,
                   dropout: float = 0.3, n_classes: int | None = None, head_epochs: int = 1,
                   train_config=None, progress: bool = True, callback=None):
    """Train a :class:`Classifier` on the encoder of ``autoencoder`` in two phases.

    Parameters
    ----------
    autoencoder : ConvAutoencoder
        Trained; its conv weights initialise the features (it is not modified).
    images : ImageSet or ndarray of shape (N, H, W) or (N, H, W, C), dtype uint8
    labels : ndarray of shape (N,), integers 0..n_classes-1
        Default: ``images.labels`` for an ImageSet.
    fc_units, dropout : the head (see :class:`ClassifierConfig`)
    n_classes : int, optional
        Default: ``labels.max() + 1`` (at least 2).
    head_epochs : int
        Phase 1: epochs that train the head alone on frozen features (0 skips it).
    train_config : TrainConfig, optional
        Phase 2 (everything trains); phase 1 uses it with ``epochs=head_epochs``.
        Default: ``TrainConfig(epochs=15, lr=5e-3, shift=2, val_fraction=0.1)``:
        random shifts of up to 2 pixels as augmentation.
    progress, callback
        As :func:`imsim.models.train`; every epoch record gets a ``phase`` (1 or 2).

    Returns
    -------
    model : Classifier
        In eval mode, holding the weights of the best validation epoch of phase 2.
    history : History
        Both phases, epochs numbered on; losses are cross-entropy per image and
        each record has ``val_accuracy``.
    """
    from .training import History, TrainConfig, train

    pixels = model_pixels(images, autoencoder.input_shape)
    if labels is None:
        labels = getattr(images, "labels", None)
    if labels is None:
        raise ValueError("labels are needed to train a classifier")
    labels = np.asarray(labels)
    if labels.shape != (len(pixels),) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers of shape ({len(pixels)},), got "
                         f"{labels.dtype} {labels.shape}")
    labels = labels.astype(np.int64)
    if labels.min() < 0:
        raise ValueError(f"labels must be >= 0, got {labels.min()}")
    n_classes = int(n_classes or max(2, labels.max() + 1))
    if labels.max() >= n_classes:
        raise ValueError(f"label {labels.max()} out of range for {n_classes} classes")
    train_config = train_config or TrainConfig(epochs=15, lr=5e-3, shift=2, val_fraction=0.1)

    torch.manual_seed(train_config.seed)
    model = Classifier(ClassifierConfig(autoencoder=autoencoder.config, n_classes=n_classes,
                                        fc_units=fc_units, dropout=dropout))
    model.load_encoder(autoencoder)
    history = History()

    def run(phase: int, config):
        offset = len(history.epochs)

        def on_epoch(rec):  # the record is the one kept in the phase's history
            rec["phase"] = phase
            rec["epoch"] += offset
            if callback is not None:
                callback(rec)

        part = train(model, pixels, labels, config, loss="cross_entropy", progress=progress,
                     callback=on_epoch)
        history.epochs += part.epochs
        history.best_epoch = offset + part.best_epoch
        history.stopped_early = part.stopped_early

    if head_epochs:
        model.freeze_features(True)
        run(1, replace(train_config, epochs=head_epochs))
        model.freeze_features(False)
    run(2, train_config)
    model.eval()
    return model, history


@torch.inference_mode()
def predict_proba(model: Classifier, images, *, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities (softmax), ndarray (N, n_classes) float32."""
    from .training import to_tensor

    pixels = model_pixels(images, model.input_shape)
    model.eval()
    device = next(model.parameters()).device
    out = np.empty((len(pixels), model.n_classes), dtype=np.float32)
    for start in range(0, len(pixels), batch_size):
        logits = model(to_tensor(pixels[start:start + batch_size], device))
        out[start:start + len(logits)] = torch.softmax(logits, 1).float().cpu().numpy()
    return out


def predict(model: Classifier, images, *, batch_size: int = 1024) -> np.ndarray:
    """Predicted class of each image, ndarray (N,) int64."""
    return predict_proba(model, images, batch_size=batch_size).argmax(1).astype(np.int64)


def classification_scores(true, predicted, n_classes: int | None = None) -> dict:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix.

    Parameters
    ----------
    true, predicted : ndarray of shape (N,), int
    n_classes : int, optional
        Default: the largest class in either + 1.

    Returns
    -------
    dict with ``accuracy`` (share, 0..1), ``n_correct``, ``n_incorrect``,
    ``confusion`` (ndarray (K, K) int64, rows = true classes), and ``per_class``: one
    dict per class with ``class``, ``precision``, ``recall``, ``f1`` (0 where
    undefined, as scikit-learn's ``zero_division=0``) and ``support`` (true count).
    """
    true = np.asarray(true).astype(np.int64)
    predicted = np.asarray(predicted).astype(np.int64)
    if true.shape != predicted.shape or true.ndim != 1 or true.size == 0:
        raise ValueError(f"true and predicted must be non-empty (N,) arrays of one length, "
                         f"got {true.shape} and {predicted.shape}")
    k = int(n_classes or max(true.max(), predicted.max()) + 1)
    confusion = np.bincount(true * k + predicted, minlength=k * k).reshape(k, k)
    hits = np.diag(confusion).astype(np.float64)
    support, claimed = confusion.sum(axis=1), confusion.sum(axis=0)
    precision = np.divide(hits, claimed, out=np.zeros(k), where=claimed > 0)
    recall = np.divide(hits, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    n_correct = int(hits.sum())
    return {
        "accuracy": n_correct / len(true), "n_correct": n_correct,
        "n_incorrect": len(true) - n_correct, "confusion": confusion,
        "per_class": [{"class": c, "precision": float(precision[c]), "recall": float(recall[c]),
                       "f1": float(f1[c]), "support": int(support[c])} for c in range(k)],
    }
