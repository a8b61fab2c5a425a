"""The onnx:FILE encoder and text search with real towers: small randomly initialised
networks exported by ``torch.onnx.export`` (tests/_onnx_towers.py) and run by
ONNX Runtime. Slow: the export needs PyTorch."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from imsim.cli.main import main
from imsim.collection import Collection

import _onnx_towers as towers

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A matching image/text tower pair with its tokenizer and settings."""
    return towers.export_pair(tmp_path_factory.mktemp("pair"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three flat colour photos and eight noise photos, 32 x 32."""
    folder = tmp_path_factory.mktemp("photos")
    for colour, px in towers.colour_images().items():
        Image.fromarray(px).save(folder / f"{colour}.png")
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"noise{i}.png")
    return folder


def _pixels(n=5, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_vectors_are_the_torch_models_output_made_unit_length(tmp_path):
    import torch

    from imsim.encoders.onnx import OnnxEncoder

    net = towers.export_image(tmp_path / "m.onnx", seed=3)
    enc = OnnxEncoder(tmp_path / "m.onnx")
    px = _pixels(7)
    x = enc.preprocess(px)
    assert x.shape == (7, 3, 32, 32) and x.dtype == np.float32
    mean, std = np.asarray([0.485, 0.456, 0.406]), np.asarray([0.229, 0.224, 0.225])
    want_x = ((px / 255.0 - mean) / std).transpose(0, 3, 1, 2)  # no resize: the model takes 32 x 32
    np.testing.assert_allclose(x, want_x, atol=1e-5)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    v = enc.encode(px)
    assert v.shape == (7, towers.WIDTH) and v.dtype == np.float32
    np.testing.assert_allclose(v, ref, atol=1e-5)
    np.testing.assert_array_equal(enc.encode(px), v)  # deterministic
    # batches of 2 give the same vectors as one batch
    enc.batch_size = 2
    np.testing.assert_allclose(enc.encode(px), v, atol=1e-6)



def test_a_model_exported_with_a_fixed_batch_encodes_any_number_of_images(tmp_path, photos):
    """torch.onnx.export without dynamic_axes fixes the batch at the example's (here 2): the
    last, shorter run is filled up to it, so 3 images and a 1-image query work."""
    import torch

    from imsim.encoders.onnx import OnnxEncoder

    net = towers.image_net(seed=5)
    torch.onnx.export(net, torch.zeros(2, 3, 32, 32), str(tmp_path / "m.onnx"), dynamo=False,
                      input_names=["x"], output_names=["y"])
    (tmp_path / "m.onnx.json").write_text(json.dumps({"batch_size": 8}))  # the model's batch wins
    enc = OnnxEncoder(tmp_path / "m.onnx")
    assert enc.batch_size == 2
    px = _pixels(3)
    with torch.no_grad():
        ref = net(torch.from_numpy(enc.preprocess(px))).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(enc.encode(px), ref, atol=1e-5)
    np.testing.assert_allclose(enc.encode(px[2:]), ref[2:], atol=1e-5)
    coll = Collection.build(photos, tmp_path / "c", size=32, encoder=f"onnx:{tmp_path / 'm.onnx'}")
    assert len(coll.query(photos / "red.png", n=2, mode="default")) == 2

def test_settings_json_sets_size_mean_and_std(tmp_path):
    from imsim.encoders.onnx import OnnxEncoder

    towers.export_image(tmp_path / "m.onnx", size=32,
                        config={"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})
    enc = OnnxEncoder(tmp_path / "m.onnx")
    px = np.full((1, 16, 16, 3), 191, np.uint8)  # resized to the model's 32 x 32
    x = enc.preprocess(px)
    assert x.shape == (1, 3, 32, 32)
    np.testing.assert_allclose(x, (191 / 255 - 0.5) / 0.25, atol=1e-5)
    (tmp_path / "m.onnx.json").write_text(json.dumps({"input_size": 64}))
    with pytest.raises(ValueError, match="asks input_size 64, but m.onnx takes 32x32"):
        OnnxEncoder(tmp_path / "m.onnx")


def test_latent_fits_a_pca_that_is_saved_and_restored(tmp_path, pair):
    from imsim.encoders import load_encoder, make_encoder

    px = _pixels(60)
    enc = make_encoder(f"onnx:{pair}", latent_dim=4).fit(px)
    v = enc.encode(px)
    assert v.shape == (60, 4) and "PCA to 4 of 8" in enc.note
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    enc.save(tmp_path / "saved")
    np.testing.assert_allclose(load_encoder(tmp_path / "saved").encode(px), v, atol=1e-6)
    # a text query goes through the same PCA
    assert load_encoder(tmp_path / "saved").encode_text(["red"]).shape == (1, 4)


def test_a_reopened_collection_encodes_as_the_build_did(tmp_path, photos, pair):
    coll = Collection.build(photos, tmp_path / "c", size=32, encoder=f"onnx:{pair}")
    assert coll.manifest["encoder"]["text"] is True and len(coll.manifest["encoder"]["sha256"]) == 64
    again = Collection.open(tmp_path / "c")
    v = again.encode(photos / "red.png")
    np.testing.assert_allclose(v, coll.latents[[r.path for r in coll.records()].index("red.png")],
                               atol=1e-5)
    assert np.isclose(np.linalg.norm(v), 1, atol=1e-5)


def test_a_text_built_to_match_an_image_ranks_it_first(tmp_path, photos, pair):
    own = tmp_path / "towers"
    shutil.copytree(pair.parent, own)
    coll = Collection.build(photos, tmp_path / "c", size=32, encoder=f"onnx:{own / pair.name}",
                            metric="cosine")
    for colour in towers.COLOURS:
        result = coll.query_text(f"a photo of {colour.upper()}", n=3)
        assert result.mode == "text" and result.hits[0].relpath == f"{colour}.png"
        assert result.hits[0].similarity == pytest.approx(1.0, abs=1e-5)
        assert result.hits[1].similarity < 0.99
    # the collection's own copy of the towers answers after the originals are gone
    shutil.rmtree(own)
    moved = Collection.open(tmp_path / "c")
    assert moved.query_text("green", n=1).hits[0].relpath == "green.png"


def test_text_query_from_the_command_line(tmp_path, photos, pair, capsys):
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--size", "32",
                 "--encoder", f"onnx:{pair}"]) == 0
    capsys.readouterr()
    assert main(["query", "--text", "blue", "-c", str(tmp_path / "c"), "-n", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "text" and out["results"][0]["relpath"] == "blue.png"
    assert main(["query", "-c", str(tmp_path / "c")]) == 1
    assert "give a photo or --text" in capsys.readouterr().err


def test_another_model_file_is_refused_and_the_same_bytes_elsewhere_are_not(tmp_path, photos, pair,
                                                                            capsys):
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--size", "32",
                 "--encoder", f"onnx:{pair}"]) == 0
    other = tmp_path / "other.onnx"
    towers.export_image(other, seed=9)
    capsys.readouterr()
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--encoder", f"onnx:{other}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SHA-256" in err and "--retrain" in err
    # the same model at another path (and its settings beside it) is the same encoder
    shutil.copy(pair, tmp_path / "copy.onnx")
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--encoder",
                 f"onnx:{tmp_path / 'copy.onnx'}"]) == 0
    assert "0 encoded" in capsys.readouterr().out
    coll = Collection.open(tmp_path / "c")
    with pytest.raises(ValueError, match="cannot be compared"):
        coll.query(photos / "red.png", encoder=f"onnx:{other}")
    assert len(coll.query(photos / "red.png", n=2, encoder=f"onnx:{tmp_path / 'copy.onnx'}")) == 2
    # a retrain takes the other model
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--encoder", f"onnx:{other}",
                 "--retrain"]) == 0
    from imsim._io import sha256_file

    assert Collection.open(tmp_path / "c").manifest["encoder"]["sha256"] == sha256_file(other)


def test_a_text_tower_is_not_an_image_model(pair, capsys, tmp_path, photos):
    assert main(["index", str(photos), "-c", str(tmp_path / "c"), "--encoder",
                 f"onnx:{pair.parent / 'text.onnx'}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not take images" in err and "input_ids" in err
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").glob("collection.json"))


def test_an_image_only_model_has_no_text_search(tmp_path, photos):
    towers.export_image(tmp_path / "m.onnx")
    coll = Collection.build(photos, tmp_path / "c", size=32, encoder=f"onnx:{tmp_path / 'm.onnx'}")
    with pytest.raises(ValueError, match="has no text tower"):
        coll.query_text("red")


def test_the_web_text_box_endpoint(tmp_path, photos, pair):
    from fastapi.testclient import TestClient

    from imsim.web import create_app

    Collection.build(photos, tmp_path / "c", size=32, encoder=f"onnx:{pair}")
    Collection.build(photos, tmp_path / "t", size=32, encoder="thumbnail")
    with TestClient(create_app(tmp_path / "c", follow=False)) as client:
        r = client.get("/api/search/text", params={"q": "a red photo", "n": 2})
        assert r.status_code == 200 and r.json()["results"][0]["relpath"] == "red.png"
        assert client.get("/api/search/text", params={"q": ""}).status_code == 422
    with TestClient(create_app(tmp_path / "t", follow=False)) as client:
        r = client.get("/api/search/text", params={"q": "red"})
        assert r.status_code == 422 and "has no text tower" in r.json()["detail"]
