"""Small randomly initialised image and text towers, exported with ``torch.onnx.export``.

The text tower is built to match the image tower on known pairs: the embedding of a
colour word is the image tower's vector of an image of that colour, other words embed
to zero, and the tower averages its tokens' embeddings (a masked mean), so the text
``"a red photo"`` maps to the direction of the red image's vector exactly.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WIDTH = 8  # embedding width of both towers
WORDS = ("[PAD]", "[UNK]", "a", "photo", "of", "red", "green", "blue")
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
# one value of the image tower's JSON settings (CLIP's mean and std)
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]


def image_net(seed: int = 0):
    """Conv -> ReLU -> global average pool -> Linear: (N, 3, H, W) -> (N, WIDTH)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(6, WIDTH)).eval()


def export_image(path: Path, seed: int = 0, size: int = 32, config: dict | None = None):
    """Export :func:`image_net` to ``path`` (input ``pixel_values`` (N, 3, size, size),
    dynamic batch); returns the torch module. ``config`` is written to ``path.json``."""
    import torch

    net = image_net(seed)
    torch.onnx.export(net, torch.zeros(2, 3, size, size), str(path), dynamo=False,
                      input_names=["pixel_values"], output_names=["image_embeds"],
                      dynamic_axes={"pixel_values": {0: "n"}, "image_embeds": {0: "n"}})
    if config is not None:
        Path(str(path) + ".json").write_text(json.dumps(config), encoding="utf-8")
    return net


def text_net(table: np.ndarray):
    """The masked mean of the token embeddings in ``table`` (vocabulary, WIDTH):
    input_ids, attention_mask (N, L) int64 -> (N, WIDTH)."""
    import torch
    from torch import nn

    class MeanOfTokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(len(table), table.shape[1])
            self.emb.weight.data = torch.from_numpy(np.asarray(table, np.float32))

        def forward(self, input_ids, attention_mask):
            m = attention_mask.unsqueeze(-1).float()
            return (self.emb(input_ids) * m).sum(1) / m.sum(1).clamp(min=1.0)

    return MeanOfTokens().eval()


def write_tokenizer(path: Path) -> None:
    """A word-level ``tokenizers`` file over :data:`WORDS` (lower-cased, split on spaces)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel

    tok = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))


def colour_images(size: int = 32) -> dict:
    """{colour: uint8 (size, size, 3)} flat images of each colour with a little texture."""
    rng = np.random.default_rng(1)
    return {c: np.clip(np.asarray(rgb, float) + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
            for c, rgb in COLOURS.items()}


def export_pair(folder: Path, seed: int = 0, size: int = 32, context: int = 8) -> Path:
    """Image tower, matching text tower, tokenizer and settings in ``folder``; returns
    the image tower's path (``folder/image.onnx``)."""
    import torch

    from imsim.encoders.onnx import OnnxEncoder

    folder.mkdir(parents=True, exist_ok=True)
    image = folder / "image.onnx"
    export_image(image, seed, size)
    enc = OnnxEncoder(image, config={"mean": CLIP_MEAN, "std": CLIP_STD})
    table = np.zeros((len(WORDS), WIDTH), np.float32)
    for colour, pixels in colour_images(size).items():
        table[WORDS.index(colour)] = enc.features(pixels[None])[0]
    net = text_net(table)
    ids = torch.zeros(2, context, dtype=torch.int64)
    torch.onnx.export(net, (ids, torch.ones_like(ids)), str(folder / "text.onnx"), dynamo=False,
                      input_names=["input_ids", "attention_mask"], output_names=["text_embeds"],
                      dynamic_axes={"input_ids": {0: "n"}, "attention_mask": {0: "n"},
                                    "text_embeds": {0: "n"}})
    write_tokenizer(folder / "tokenizer.json")
    (folder / "image.onnx.json").write_text(json.dumps(
        {"mean": CLIP_MEAN, "std": CLIP_STD, "output": "image_embeds",
         "text": {"model": "text.onnx", "tokenizer": "tokenizer.json", "context_length": context,
                  "pad_id": 0, "output": "text_embeds"}}), encoding="utf-8")
    return image
