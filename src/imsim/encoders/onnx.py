"""Image models exported to ONNX, run by ONNX Runtime on the CPU: ``--encoder onnx:FILE``.

Any image model exported to ONNX works (a CLIP or SigLIP image tower, DINOv2, a
torchvision or timm backbone): no torchvision is needed, and the model's own torch
version does not matter. How to feed it is read from ``FILE.json`` beside the model
(``model.onnx`` -> ``model.onnx.json``), every key optional::

    {"input_size": 224,                      # side in pixels [the model's input shape, else 224]
     "mean": [0.485, 0.456, 0.406],          # per channel, pixels scaled to 0..1 [ImageNet]
     "std":  [0.229, 0.224, 0.225],
     "output": "image_embeds",               # which output [the first]
     "pooling": "mean",                      # a (N, C, H, W) map or (N, T, D) tokens -> (N, D):
                                             #   mean, max or cls (token 0) [maps: mean, tokens: cls]
     "batch_size": 32,                       # images per run [32; a model's fixed batch overrides it]
     "text": {"model": "text.onnx",          # a CLIP-family text tower: text search
              "tokenizer": "tokenizer.json", # a Hugging Face `tokenizers` file
              "context_length": 77, "output": "text_embeds"}}

The vectors are unit length; ``--latent`` fits a PCA on the folder (as the
``torchvision:`` encoders do). The model file (and the text tower and tokenizer) are
copied into the collection, which records the model's SHA-256: indexing it again with
another model file is refused (:func:`check_same_model`). ONNX Runtime runs with
imsim's one thread setting (``IMSIM_THREADS``, :mod:`imsim._threads`).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from .._io import sha256_file
from .base import Encoder
from .handcrafted import MIN_PCA_IMAGES, PCAWhitening, unit

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DEFAULT_SIZE, DEFAULT_BATCH, DEFAULT_CONTEXT = 224, 32, 77
POOLINGS = ("mean", "max", "cls")
_SAVED_MODEL, _SAVED_TEXT, _SAVED_TOKENIZER = "model.onnx", "text.onnx", "tokenizer.json"
_OPTIONAL_EXTRA = "pip install 'imsim[onnx]' (onnxruntime and tokenizers)"


def config_path(model) -> Path:
    """Where the model's settings are read from: ``FILE.json`` beside ``FILE``."""
    return Path(str(model) + ".json")


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeError(f"the onnx: encoder needs ONNX Runtime: {_OPTIONAL_EXTRA}") from None
    return onnxruntime


def _session(path: Path, what: str):
    """An ONNX Runtime CPU session of ``path``; a file that is not ONNX is one line."""
    ort = _ort()
    from .._threads import configured_threads

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = configured_threads() or 0  # 0: ONNX Runtime's default (all cores)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # InvalidProtobuf, Fail, NoSuchFile ...
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path} is not an ONNX {what} ONNX Runtime can load "
                         f"({first[:160]})") from None


def read_config(model: Path) -> dict:
    """The settings in ``FILE.json`` (an empty dict when there is none), checked."""
    path = config_path(model)
    if not path.is_file():
        return {}
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{path} must hold a JSON object, not {type(cfg).__name__}")
    for key in ("mean", "std"):
        v = cfg.get(key)
        if v is not None and not (isinstance(v, list) and len(v) in (1, 3)
                                  and all(isinstance(x, (int, float)) for x in v)):
            raise ValueError(f"{path}: {key!r} must be a list of 1 or 3 numbers, got {v!r}")
    if cfg.get("std") and any(x <= 0 for x in cfg["std"]):
        raise ValueError(f"{path}: 'std' must be positive, got {cfg['std']!r}")
    if cfg.get("pooling") is not None and cfg["pooling"] not in POOLINGS:
        raise ValueError(f"{path}: 'pooling' must be one of {', '.join(POOLINGS)}, got {cfg['pooling']!r}")
    for key in ("input_size", "batch_size"):
        v = cfg.get(key)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
            raise ValueError(f"{path}: {key!r} must be a positive integer, got {v!r}")
    text = cfg.get("text")
    if text is not None:
        if not isinstance(text, dict) or not isinstance(text.get("model"), str) \
                or not isinstance(text.get("tokenizer"), str):
            raise ValueError(f"{path}: 'text' must be an object naming its 'model' (.onnx) and "
                             f"'tokenizer' (tokenizer.json) files")
        for key in ("model", "tokenizer"):
            f = (path.parent / text[key]).expanduser()
            if not f.is_file():
                raise FileNotFoundError(f"{path} names the text {key} {text[key]}, which is not "
                                        f"at {f}")
    return cfg


class OnnxEncoder(Encoder):
    """An ONNX image model's (pooled) output, unit length, optionally PCA-reduced.

    Parameters
    ----------
    model : path-like
        The ``.onnx`` file of the image model.
    latent_dim : int, optional
        PCA to this many dimensions (fitted on the folder); None: the model's width.
    config : dict, optional
        The settings of ``FILE.json`` (see the module docstring); None reads the file.
    source : str, optional
        Where the model came from (recorded; default ``model``'s absolute path).
    """

    def __init__(self, model, *, latent_dim: int | None = None, config: dict | None = None,
                 source: str | None = None, sha256: str | None = None):
        super().__init__(latent_dim)
        self.model_path = Path(model).expanduser()
        if not self.model_path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.model_path}")
        self.config = read_config(self.model_path) if config is None else dict(config)
        self.source = source or str(self.model_path.resolve())
        self.name = f"onnx:{self.source}"
        self.sha256 = sha256 or sha256_file(self.model_path)
        self.session = _session(self.model_path, "model")
        self._inspect()
        self.pca_ = None
        self._text = None  # (session, tokenizer), loaded on first use

    # -- the model's input and output ------------------------------------------

    def _inspect(self) -> None:
        """Read the input layout and size from the model; refuse one that takes no images."""
        inputs = self.session.get_inputs()
        x = inputs[0]
        shape = list(x.shape)
        name = self.model_path.name
        if len(inputs) != 1 or x.type not in ("tensor(float)", "tensor(float16)") or len(shape) != 4:
            got = ", ".join(f"{i.name!r} {i.type[7:-1] if i.type.startswith('tensor(') else i.type} "
                            f"{list(i.shape)}" for i in inputs)
            raise ValueError(f"{name} does not take images: its input is {got}, not one float "
                             f"tensor (N, 3, H, W) or (N, H, W, 3)")
        channels_last = shape[3] in (1, 3) and shape[1] not in (1, 3)
        c = shape[3] if channels_last else shape[1]
        spatial = shape[1:3] if channels_last else shape[2:4]
        if isinstance(c, int) and c not in (1, 3):
            raise ValueError(f"{name} does not take images: its input {x.name!r} has {c} channels "
                             f"(shape {shape}), not 1 or 3")
        self.channels_last, self.channels = channels_last, (c if isinstance(c, int) else 3)
        fixed = [s for s in spatial if isinstance(s, int)]
        asked = self.config.get("input_size")
        if asked is not None and fixed and any(s != asked for s in fixed):
            raise ValueError(f"{config_path(self.model_path).name} asks input_size {asked}, but "
                             f"{name} takes {spatial[0]}x{spatial[1]} images")
        self.input_size = int(asked or (fixed[0] if fixed else DEFAULT_SIZE))
        self.input_name, self.input_type = x.name, x.type
        # a model exported without a dynamic batch axis takes runs of exactly that many images
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        self.batch_size = self.fixed_batch or int(self.config.get("batch_size") or DEFAULT_BATCH)
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = self.config.get("output") or outputs[0]
        if self.output not in outputs:
            raise ValueError(f"{name} has no output {self.output!r}; its outputs: {', '.join(outputs)}")
        mean = self.config.get("mean") or IMAGENET_MEAN
        std = self.config.get("std") or IMAGENET_STD
        self.mean = np.resize(np.asarray(mean, np.float32), self.channels)
        self.std = np.resize(np.asarray(std, np.float32), self.channels)

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W[, C]) -> the model's float input (N, 3, S, S) or (N, S, S, 3),
        resized (bilinear) to ``input_size`` and normalised by ``mean``/``std``."""
        from PIL import Image

        pixels = np.asarray(pixels)
        if pixels.ndim == 3:
            pixels = pixels[..., None]
        s = self.input_size
        if pixels.shape[1:3] != (s, s):
            pixels = np.stack([np.asarray(Image.fromarray(p.squeeze(-1) if p.shape[-1] == 1 else p)
                                          .resize((s, s), Image.BILINEAR)).reshape(s, s, -1)
                               for p in pixels]) if len(pixels) else np.zeros((0, s, s, pixels.shape[-1]),
                                                                              np.uint8)
        x = pixels.astype(np.float32) * np.float32(1 / 255)
        if x.shape[-1] != self.channels:  # gray -> RGB, or RGB -> luma for a 1-channel model
            x = (np.repeat(x, 3, axis=-1) if self.channels == 3
                 else x @ np.asarray([[0.299], [0.587], [0.114]], np.float32))
        x = (x - self.mean) / self.std
        if not self.channels_last:
            x = x.transpose(0, 3, 1, 2)
        x = np.ascontiguousarray(x)
        return x.astype(np.float16) if self.input_type == "tensor(float16)" else x

    def _pool(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:
            return y
        how = self.config.get("pooling") or ("mean" if y.ndim == 4 else "cls")
        if y.ndim == 4:  # (N, C, H, W) feature map
            axes = (2, 3)
        elif y.ndim == 3:  # (N, T, D) tokens
            if how == "cls":
                return y[:, 0]
            axes = (1,)
        else:
            return y.reshape(len(y), -1)
        if how == "cls":
            raise ValueError(f"{self.model_path.name}: pooling 'cls' is for token outputs (N, T, D), "
                             f"the output {self.output!r} is a map {list(y.shape)}")
        return y.max(axis=axes) if how == "max" else y.mean(axis=axes)

    def features(self, pixels: np.ndarray) -> np.ndarray:
        """The model's pooled output (N, D) float32, before unit length and PCA."""
        out = []
        for i in range(0, len(pixels), self.batch_size):
            x = self.preprocess(pixels[i:i + self.batch_size])
            n = len(x)
            if self.fixed_batch and n < self.fixed_batch:  # the last run, filled up to the fixed batch
                x = np.concatenate([x, np.repeat(x[-1:], self.fixed_batch - n, axis=0)])
            try:
                y = self.session.run([self.output], {self.input_name: x})[0]
            except Exception as exc:  # an input size the graph cannot take, ...
                first = (str(exc).splitlines() or [type(exc).__name__])[0]
                raise ValueError(f"{self.model_path.name} cannot encode {x.shape[1:]} inputs "
                                 f"({first[:200]})") from None
            out.append(self._pool(y)[:n])
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    # -- the encoder interface ---------------------------------------------------

    def fit(self, pixels, *, seed: int = 0, progress: bool = False):
        self.pca_ = None
        if self.latent_dim is not None and len(pixels) >= MIN_PCA_IMAGES:
            f = self.features(pixels)
            if f.shape[1] > self.latent_dim:
                self.pca_ = PCAWhitening(self.latent_dim, power=0.0).fit(unit(f))
                self.note = f"PCA to {len(self.pca_.components_)} of {f.shape[1]} dimensions"
        return self

    def _finish(self, f: np.ndarray) -> np.ndarray:
        f = unit(f)
        return unit(self.pca_.transform(f)) if self.pca_ is not None else f

    def encode(self, pixels, *, progress: bool = False):
        return self._finish(self.features(pixels))

    # -- text --------------------------------------------------------------------

    @property
    def has_text(self) -> bool:
        """Whether ``FILE.json`` declares a text tower (text search works)."""
        return bool(self.config.get("text"))

    def _text_parts(self):
        if self._text is None:
            if not self.has_text:
                raise ValueError(f"the ONNX model {Path(self.source).name} has no text tower: "
                                 f"text search needs a CLIP-family model whose "
                                 f"{config_path(Path(self.source)).name} names one "
                                 f"(e.g. `imsim models fetch clip-vit-b32`)")
            try:
                from tokenizers import Tokenizer
            except ImportError:
                raise RuntimeError(f"text search needs the tokenizers package: {_OPTIONAL_EXTRA}") from None
            text = self.config["text"]
            folder = config_path(self.model_path).parent
            tok_path = folder / text["tokenizer"]
            try:
                tok = Tokenizer.from_file(str(tok_path))
            except Exception as exc:
                raise ValueError(f"{tok_path} is not a tokenizers file ({str(exc)[:120]})") from None
            n = int(text.get("context_length") or DEFAULT_CONTEXT)
            tok.enable_truncation(n)
            pad = text.get("pad_id")
            if pad is None:
                pad = tok.token_to_id("<|endoftext|>") if tok.token_to_id("<|endoftext|>") is not None else 0
            tok.enable_padding(length=n, pad_id=int(pad))
            session = _session(folder / text["model"], "text model")
            self._text = (session, tok)
        return self._text

    def encode_text(self, texts) -> np.ndarray:
        """Unit vectors (len(texts), dim) float32 of ``texts`` by the text tower, in the
        image vectors' space (the same PCA applied)."""
        session, tok = self._text_parts()
        texts = [texts] if isinstance(texts, str) else list(texts)
        enc = tok.encode_batch(texts)
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        feed = {}
        for inp in session.get_inputs():
            value = mask if "mask" in inp.name else ids
            feed[inp.name] = value.astype(np.int32) if inp.type == "tensor(int32)" else value
        out = self.config["text"].get("output")
        names = [o.name for o in session.get_outputs()]
        y = session.run([out if out in names else names[0]], feed)[0]
        y = np.asarray(y, dtype=np.float32).reshape(len(texts), -1)
        width = self.pca_.mean_.shape[0] if self.pca_ is not None else None
        if width is not None and y.shape[1] != width:
            raise ValueError(f"the text tower makes {y.shape[1]}-dimensional vectors, the image "
                             f"model {width}-dimensional ones: they are not one model's towers")
        return self._finish(y)

    # -- persistence ---------------------------------------------------------------

    def options(self):
        return {"file": _SAVED_MODEL, "source": self.source, "sha256": self.sha256,
                "config": self._saved_config()}

    def _saved_config(self) -> dict:
        cfg = dict(self.config)
        if cfg.get("text"):
            cfg["text"] = {**cfg["text"], "model": _SAVED_TEXT, "tokenizer": _SAVED_TOKENIZER}
        return cfg

    def record(self) -> dict:
        return {"sha256": self.sha256, "text": self.has_text}

    def arrays(self):
        return self.pca_.state() if self.pca_ is not None else {}

    def _restore(self, folder, arrays):
        self.pca_ = PCAWhitening.from_state(arrays) if arrays else None

    def _save_files(self, folder):
        folder = Path(folder)
        _place(self.model_path, folder / _SAVED_MODEL)
        if self.config.get("text"):
            src = config_path(self.model_path).parent
            _place(src / self.config["text"]["model"], folder / _SAVED_TEXT)
            _place(src / self.config["text"]["tokenizer"], folder / _SAVED_TOKENIZER)
        (folder / (_SAVED_MODEL + ".json")).write_text(json.dumps(self._saved_config(), indent=1) + "\n",
                                                        encoding="utf-8")


def _place(src: Path, target: Path) -> None:
    """``src`` at ``target``: a hard link where the file system allows it, else a copy."""
    if target.exists() and target.resolve() == src.resolve():
        return
    target.unlink(missing_ok=True)
    try:
        os.link(src, target)
    except OSError:
        shutil.copyfile(src, target)


def resolve_model(spec: str) -> Path:
    """The ``.onnx`` file that ``onnx:SPEC`` names: a file, or a model name fetched into the
    cache by ``imsim models fetch`` (see :mod:`imsim.encoders.model_cache`)."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path.resolve()
    from . import model_cache

    known = model_cache.KNOWN.get(spec)
    if known is not None:
        cached = model_cache.image_model(spec)
        if cached is None:
            raise FileNotFoundError(f"the model {spec} is not in the cache yet: run `imsim models "
                                    f"fetch {spec}`")
        return cached
    raise FileNotFoundError(f"ONNX model not found: {path} (nor a known model name: "
                            f"{', '.join(model_cache.KNOWN)})")


def make_onnx(name: str, *, latent_dim=None) -> OnnxEncoder:
    """``onnx:FILE`` (or ``onnx:NAME`` of a cached model) as an encoder."""
    spec = name.partition(":")[2]
    return OnnxEncoder(resolve_model(spec), latent_dim=latent_dim)


def load_saved(folder: Path, spec: dict) -> OnnxEncoder:
    """The encoder a collection saved in ``folder`` (its copy of the model)."""
    return OnnxEncoder(Path(folder) / spec.get("file", _SAVED_MODEL), latent_dim=spec.get("latent_dim"),
                       config=spec.get("config") or {}, source=spec.get("source"),
                       sha256=spec.get("sha256"))


def check_same_model(asked: str, recorded: dict) -> bool:
    """Whether ``onnx:FILE`` asked of a collection is the model it was built with
    (the same bytes: SHA-256), wherever the file now lies.

    ``recorded`` is the collection's ``manifest["encoder"]``.
    """
    spec = asked.partition(":")[2]
    try:
        digest = sha256_file(resolve_model(spec))
    except FileNotFoundError:
        return False
    return digest == recorded.get("sha256")


def describe_model(name: str, recorded: dict | None = None) -> str:
    """``onnx:FILE (SHA-256 0123456789ab)`` for a refusal line."""
    if recorded and recorded.get("sha256"):
        return f"{name} (SHA-256 {recorded['sha256'][:12]})"
    spec = name.partition(":")[2]
    try:
        return f"{name} (SHA-256 {sha256_file(resolve_model(spec))[:12]})"
    except (FileNotFoundError, OSError):
        return name
