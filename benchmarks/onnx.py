"""The ``onnx:`` encoder against PyTorch eager, and text-query latency on a collection.

Two tables, each with its baseline row timed in the same run:

(a) Time per image of a ResNet-18-shaped network (plain torch, random weights, 224 x 224
    inputs, pooled 512-d features: what ``torchvision:resnet18`` returns), in PyTorch eager
    and exported with ``torch.onnx.export(..., dynamo=False)`` run by ONNX Runtime: the
    network alone on the same float batches (32 images, the ``onnx:`` encoder's batch), and
    through imsim's encoders on the same uint8 images, ``encode`` on an array (what
    ``Collection.build`` calls): the ``onnx:`` encoder against the ``torchvision:`` path
    (:class:`imsim.encoders.backbones.BackboneEncoder`, batches of 64) running the eager
    module. A row of the eager network with BatchNorm folded into the convolutions and
    channels-last tensors shows eager at its best (imsim does not run it so). Both run
    on imsim's one thread setting (``IMSIM_THREADS``, set here to
    ``--threads``). The outputs' largest absolute difference is printed.

(b) ``Collection.query_text`` on a collection of generated 32 x 32 PNGs built with
    ``onnx:`` towers of CLIP ViT-B/32's output width (512): a small image tower and a text
    tower of CLIP's text-transformer shape (12 layers, width 512, 8 heads, 77 tokens;
    random weights, a word-level tokenizer), after the text tower is loaded. Baseline: the
    plain image query (``Collection.query`` of a new PNG, ``mode="default"``: decoded,
    encoded, searched). The text tower's own time (``encode_text``) is a row of its own.

In (a) the methods alternate (rotated order) within each repetition, in (b) they run in
a new random order for each query; medians are reported, and in (b) the process's CPU
time too (all threads; on a shared machine the steadier figure). The load average is
printed before and after.

    PYTHONPATH=src .venv/bin/python benchmarks/onnx.py            # 10,000 images
    PYTHONPATH=src .venv/bin/python benchmarks/onnx.py --quick    # 1,000 images, fewer repeats
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # this file is onnx.py: keep `import onnx` (inside torch.onnx) the real package
import numpy as np  # noqa: E402

WORDS = ("[PAD]", "[UNK]", "a", "photo", "of", "red", "green", "blue", "dog", "cat", "car", "tree",
         "sky", "dark", "bright", "small", "big", "picture", "the", "with")
WIDTH = 512  # CLIP ViT-B/32's embedding width


# -- the networks ---------------------------------------------------------------------

def resnet18():
    """ResNet-18 as torchvision defines it, the classifier replaced by the identity:
    (N, 3, 224, 224) -> (N, 512)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + self.down(x))

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    torch.manual_seed(0)
    net = nn.Sequential(*layers)
    for m in net.modules():  # non-trivial BatchNorm statistics, as trained weights have
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def small_image_tower():
    """Conv -> ReLU -> pool -> Linear to 512: a cheap image tower of CLIP's output width."""
    import torch
    from torch import nn

    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(64, WIDTH)).eval()


def clip_text_tower(layers: int = 12, width: int = 512, heads: int = 8, context: int = 77):
    """CLIP's text transformer in shape (pre-norm blocks, causal attention, MLP x4, final
    LayerNorm, the last real token's state projected to 512): input_ids, attention_mask
    (N, context) int64 -> (N, 512). Random weights; the vocabulary is :data:`WORDS`."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

        def forward(self, x, bias):
            n, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).reshape(n, t, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
            a = torch.softmax(q @ k.transpose(-1, -2) / (width // heads) ** 0.5 + bias, dim=-1)
            x = x + self.out((a @ v).transpose(1, 2).reshape(n, t, width))
            return x + self.mlp(self.ln2(x))

    class Text(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(len(WORDS), width)
            self.pos = nn.Parameter(torch.randn(context, width) * 0.01)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln = nn.LayerNorm(width)
            self.proj = nn.Linear(width, WIDTH, bias=False)
            self.register_buffer("causal", torch.full((context, context), -1e4).triu(1))

        def forward(self, input_ids, attention_mask):
            t = input_ids.shape[1]  # any length up to the context (the graph's axis 1 is dynamic)
            x = self.tok(input_ids) + self.pos[:t]
            for b in self.blocks:
                x = b(x, self.causal[:t, :t])
            x = self.ln(x)
            last = (attention_mask.sum(1) - 1).clamp(min=0)
            return self.proj(x[torch.arange(x.shape[0]), last])

    torch.manual_seed(2)
    return Text().eval()


def export(net, args, path: Path, inputs, outputs, tokens: bool = False) -> Path:
    import torch

    axes = {name: ({0: "n", 1: "t"} if tokens and name in inputs else {0: "n"}) for name in inputs + outputs}
    with torch.no_grad():
        torch.onnx.export(net, args, str(path), dynamo=False, input_names=inputs,
                          output_names=outputs, dynamic_axes=axes)
    return path


def write_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel

    tok = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))


def say(*args, **kw):
    print(*args, **kw, flush=True)


# -- timing -------------------------------------------------------------------------

def alternate(fns: dict, reps: int) -> dict:
    """{name: median seconds} of each function, run in turn (rotated order) ``reps`` times."""
    times = {k: [] for k in fns}
    names = list(fns)
    for r in range(reps):
        for k in names[r % len(names):] + names[:r % len(names)]:
            t = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def images(n: int, size: int, seed: int) -> np.ndarray:
    """uint8 (n, size, size, 3): smooth colour fields with noise (not flat, not white noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        c = rng.uniform(0, 255, (3, 3))
        f = c[:, 0, None, None] + c[:, 1, None, None] * xx + c[:, 2, None, None] * yy - c[:, 1:].mean(1)[:, None, None]
        f = f.transpose(1, 2, 0) + rng.normal(0, 12, (size, size, 3))
        out[i] = np.clip(f, 0, 255).astype(np.uint8)
    return out


# -- (a) the encoder ----------------------------------------------------------------

def bench_encoder(tmp: Path, n: int, reps: int) -> list:
    import torch

    from imsim.encoders.backbones import BackboneEncoder
    from imsim.encoders.onnx import OnnxEncoder
    from imsim.models.training import torch_threads

    net = resnet18()
    model = export(net, torch.zeros(2, 3, 224, 224), tmp / "resnet18.onnx", ["pixel_values"], ["features"])
    torch.save(net.state_dict(), tmp / "resnet18.pt")
    onnx_enc = OnnxEncoder(model)
    eager_enc = BackboneEncoder("torchvision:resnet18", net, latent_dim=None, weights=tmp / "resnet18.pt")
    px = images(n, 224, seed=0)
    bs = onnx_enc.batch_size
    floats = [onnx_enc.preprocess(px[i:i + bs]) for i in range(0, n, bs)]
    tensors = [torch.from_numpy(x) for x in floats]

    def eager_net():
        with torch.no_grad():
            return [net(x).numpy() for x in tensors]

    from torch.fx.experimental.optimization import fuse

    tuned = fuse(net).to(memory_format=torch.channels_last)  # BatchNorm folded, NHWC kernels
    tensors_cl = [x.to(memory_format=torch.channels_last) for x in tensors]

    def eager_tuned():
        with torch.no_grad():
            return [tuned(x).numpy() for x in tensors_cl]

    def ort_net():
        return [onnx_enc.session.run([onnx_enc.output], {onnx_enc.input_name: x})[0] for x in floats]

    with torch_threads(None), torch.no_grad():
        eager_net(), ort_net()  # warm up (allocations, ONNX Runtime's first-run graph work)
        eager_tuned()
        ref = np.concatenate(eager_net())
        diff_net = float(np.abs(ref - np.concatenate(ort_net())).max())
        diff_tuned = float(np.abs(ref - np.concatenate(eager_tuned())).max())
        v_eager, v_onnx = eager_enc.encode(px[:bs]), onnx_enc.encode(px[:bs])
        diff_enc = float(np.abs(v_eager - v_onnx).max())
        t = alternate({"eager": eager_net, "tuned": eager_tuned, "ort": ort_net,
                       "enc_eager": lambda: eager_enc.encode(px), "enc_onnx": lambda: onnx_enc.encode(px)},
                      reps)
    ms = {k: v * 1e3 / n for k, v in t.items()}
    return [("network alone, PyTorch eager (baseline)", ms["eager"], 1.0, "", bs),
            ("network alone, eager, BN folded + channels_last", ms["tuned"], ms["tuned"] / ms["eager"],
             f"{diff_tuned:.2e}", bs),
            ("network alone, ONNX Runtime", ms["ort"], ms["ort"] / ms["eager"], f"{diff_net:.2e}", bs),
            ("imsim torchvision: path, eager encode() (baseline)", ms["enc_eager"], 1.0, "", 64),
            ("imsim onnx: encoder, encode()", ms["enc_onnx"], ms["enc_onnx"] / ms["enc_eager"],
             f"{diff_enc:.2e}", bs)]


# -- (b) text queries -----------------------------------------------------------------

def bench_text(tmp: Path, n_images: int, n_queries: int, layers: int) -> tuple[list, dict]:
    import torch
    from PIL import Image

    from imsim import Collection

    towers = tmp / "towers"
    towers.mkdir()
    export(small_image_tower(), torch.zeros(2, 3, 32, 32), towers / "image.onnx", ["pixel_values"],
           ["image_embeds"])
    ids = torch.zeros(2, 77, dtype=torch.int64)
    export(clip_text_tower(layers), (ids, torch.ones_like(ids)), towers / "text.onnx",
           ["input_ids", "attention_mask"], ["text_embeds"], tokens=True)
    write_tokenizer(towers / "tokenizer.json")
    (towers / "image.onnx.json").write_text(json.dumps(
        {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
         "text": {"model": "text.onnx", "tokenizer": "tokenizer.json", "context_length": 77,
                  "pad_id": 0, "output": "text_embeds"}}), encoding="utf-8")
    photos = tmp / "photos"
    photos.mkdir()
    t = time.perf_counter()
    for i, p in enumerate(images(n_images, 32, seed=1)):
        Image.fromarray(p).save(photos / f"{i:05d}.png", compress_level=1)
    written = time.perf_counter() - t
    t = time.perf_counter()
    coll = Collection.build(photos, tmp / "coll", size=32, encoder=f"onnx:{towers / 'image.onnx'}",
                            progress=False)
    built = time.perf_counter() - t
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(WORDS[2:], int(rng.integers(1, 7)))) for _ in range(n_queries)]
    queries = []
    for i, p in enumerate(images(n_queries, 32, seed=4)):
        Image.fromarray(p).save(tmp / f"q{i}.png")
        queries.append((tmp / f"q{i}.png").read_bytes())
    t = time.perf_counter()
    coll.query_text(texts[0])
    first = time.perf_counter() - t
    coll.query(queries[0], mode="default")  # the index, loaded
    session, tok = coll.model._text_parts()
    from tokenizers import Tokenizer

    unpadded = Tokenizer.from_file(str(towers / "tokenizer.json"))

    def own_tokens(text):  # the tower on the query's own tokens, not padded to 77
        ids = np.asarray([unpadded.encode(text).ids], np.int64)
        return session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]

    times = {"text": [], "image": [], "tower": [], "short": []}
    cpu = {k: [] for k in times}
    for i in range(n_queries):
        text, query = texts[i], queries[i]
        steps = [("text", lambda text=text: coll.query_text(text, n=10)),
                 ("image", lambda query=query: coll.query(query, n=10, mode="default")),
                 ("tower", lambda text=text: coll.model.encode_text([text])),
                 ("short", lambda text=text: own_tokens(text))]
        for j in rng.permutation(len(steps)):  # a new random order for each query
            k, f = steps[j]
            t, c = time.perf_counter(), time.process_time()
            res = f()
            times[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
            if k in ("text", "image"):
                assert len(res.hits) == 10
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    cms = {k: statistics.median(v) * 1e3 for k, v in cpu.items()}
    from imsim.encoders.handcrafted import unit

    same = max(float(np.abs(unit(own_tokens(t)) - coll.model.encode_text([t])).max()) for t in texts[:10])
    mean_tokens = statistics.mean(len(unpadded.encode(t).ids) for t in texts)
    rows = [("image query, a new 32 px PNG (baseline)", med["image"], cms["image"], 1.0),
            ("text query, Collection.query_text", med["text"], cms["text"], med["text"] / med["image"]),
            (f"  its text tower alone ({layers} layers, 77 tokens)", med["tower"], cms["tower"],
             med["tower"] / med["image"]),
            (f"  the tower on the query's own {mean_tokens:.1f} tokens", med["short"], cms["short"],
             med["short"] / med["image"])]
    info = {"images": n_images, "queries": n_queries, "png_s": written, "build_s": built,
            "first_text_ms": first * 1e3, "same": same, "text_mb": (towers / "text.onnx").stat().st_size / 2**20}
    return rows, info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 images, 32 encoder images, 3 repeats")
    ap.add_argument("--images", type=int, help="collection size for (b) [10,000; quick 1,000]")
    ap.add_argument("--queries", type=int, default=50, help="text and image queries for (b) [50]")
    ap.add_argument("--encode-images", type=int, help="224 px images for (a) [64; quick 32]")
    ap.add_argument("--reps", type=int, help="alternating repetitions for (a) [5; quick 3]")
    ap.add_argument("--text-layers", type=int, default=12, help="text transformer layers [12, CLIP's]")
    ap.add_argument("--threads", type=int, help="IMSIM_THREADS for both runtimes [every usable core]")
    ap.add_argument("--only", choices=("encoder", "text"), help="run one part")
    args = ap.parse_args(argv)
    from imsim._threads import configured_threads, usable_cores

    threads = args.threads or configured_threads() or usable_cores()
    os.environ["IMSIM_THREADS"] = str(threads)
    n_enc = args.encode_images or (32 if args.quick else 64)
    reps = args.reps or (3 if args.quick else 5)
    n_img = args.images or (1_000 if args.quick else 10_000)
    import onnxruntime
    import torch

    load0 = os.getloadavg()
    say(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; torch {torch.__version__}, "
          f"onnxruntime {onnxruntime.__version__}; IMSIM_THREADS={threads} "
          f"({usable_cores()} usable cores); load {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    with tempfile.TemporaryDirectory(prefix="imsim-onnx-bench-") as d:
        tmp = Path(d)
        if args.only in (None, "encoder"):
            rows = bench_encoder(tmp, n_enc, reps)
            say(f"\n(a) ResNet-18 shape, 224 x 224, {n_enc} images, median of {reps} alternating runs")
            say(f"{'path':52} {'batch':>5} {'ms/image':>9} {'x base':>7} {'max |diff|':>10}")
            for name, ms, ratio, diff, bs in rows:
                say(f"{name:52} {bs:5d} {ms:9.2f} {ratio:6.2f}x {diff:>10}")
            say(f"target: onnx: encoder within 1.2x of eager or faster: "
                  f"{'met' if rows[-1][2] <= 1.2 else 'NOT met'} ({rows[-1][2]:.2f}x)")
        if args.only in (None, "text"):
            rows, info = bench_text(tmp, n_img, args.queries, args.text_layers)
            say(f"\n(b) {info['images']:,} images of 32 px (PNGs written in {info['png_s']:.1f} s, "
                  f"collection built in {info['build_s']:.1f} s), {info['queries']} queries each, "
                  f"in random order; text tower {info['text_mb']:.0f} MB, first text query "
                  f"(loads it) {info['first_text_ms']:.0f} ms")
            say(f"{'query':52} {'median ms':>9} {'cpu ms':>7} {'x base':>7}")
            for name, ms, cms, ratio in rows:
                say(f"{name:52} {ms:9.2f} {cms:7.2f} {ratio:6.2f}x")
            say(f"the tower's vector on the own tokens against 77 padded (causal: the same): max |diff| "
                f"{info['same']:.1e}")
            say(f"target: text query <= 50 ms after the tower is loaded: "
                  f"{'met' if rows[1][1] <= 50 else 'NOT met'} ({rows[1][1]:.1f} ms)")
    load1 = os.getloadavg()
    say(f"\nload {load0[0]:.2f} -> {load1[0]:.2f} (1-minute average, before -> after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
