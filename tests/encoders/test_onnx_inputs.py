"""The onnx: encoder on bad input, without PyTorch: graphs written with ``onnx.helper``."""
from __future__ import annotations

import numpy as np
import pytest

from imsim.cli.main import main

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402


def _save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def mean_pool_model(path, shape=("n", 3, 16, 16)):
    """(N, 3, H, W) float -> ReduceMean over H, W: (N, 3, 1, 1), a feature map to pool."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1)
    return _save(helper.make_graph([node], "pool", [x], [y]), path)


def token_model(path):
    """int64 (N, 77) -> float (N, 77): a text-like input, not an image."""
    x = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", 77])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Cast", ["input_ids"], ["y"], to=TensorProto.FLOAT)
    return _save(helper.make_graph([node], "tokens", [x], [y]), path)


def test_a_feature_map_is_mean_pooled_to_the_channel_means(tmp_path):
    from imsim.encoders.onnx import OnnxEncoder

    enc = OnnxEncoder(mean_pool_model(tmp_path / "m.onnx"))
    assert enc.input_size == 16  # read from the model's input shape
    px = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    f = enc.features(px)
    want = ((px / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).mean(axis=(1, 2))
    np.testing.assert_allclose(f, want, atol=1e-5)
    gray = enc.features(px[..., 0])  # grayscale photos are given to an RGB model as 3 channels
    assert gray.shape == (3, 3)


def test_a_file_that_is_not_onnx_is_one_line(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "photos").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "photos" / "a.png")
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x89PNG not a model")
    assert main(["index", str(tmp_path / "photos"), "-c", str(tmp_path / "c"),
                 "--encoder", f"onnx:{bad}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not an ONNX model" in err


def test_a_model_whose_input_is_not_an_image_is_one_line(tmp_path):
    from imsim.encoders.onnx import OnnxEncoder

    with pytest.raises(ValueError, match=r"does not take images: its input is 'input_ids' int64"):
        OnnxEncoder(token_model(tmp_path / "t.onnx"))
    with pytest.raises(ValueError, match="5 channels"):
        OnnxEncoder(mean_pool_model(tmp_path / "five.onnx", shape=("n", 5, 16, 16)))


@pytest.mark.parametrize("settings, says", [
    ('{"mean": [1, 2]}', "'mean' must be a list of 1 or 3 numbers"),
    ('{"pooling": "sum"}', "'pooling' must be one of mean, max, cls"),
    ('{"text": {"model": "t.onnx", "tokenizer": "tok.json"}}', "names the text model t.onnx"),
    ('[1]', "must hold a JSON object"),
    ('{"output": "nope"}', "has no output 'nope'"),
])
def test_bad_settings_beside_the_model_are_one_line(tmp_path, settings, says):
    from imsim.encoders.onnx import OnnxEncoder

    model = mean_pool_model(tmp_path / "m.onnx")
    (tmp_path / "m.onnx.json").write_text(settings)
    with pytest.raises((ValueError, FileNotFoundError), match=says):
        OnnxEncoder(model)


def test_a_missing_model_and_weights_are_one_line(tmp_path):
    from imsim.encoders import make_encoder

    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        make_encoder(f"onnx:{tmp_path / 'none.onnx'}")
    with pytest.raises(ValueError, match="--weights is not for onnx"):
        make_encoder(f"onnx:{mean_pool_model(tmp_path / 'm.onnx')}", weights=tmp_path / "w.pt")


def test_a_text_query_on_a_collection_without_a_text_tower_is_one_line(tmp_path, capsys):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 60 * i, np.uint8)).save(photos / f"{i}.png")
    model = mean_pool_model(tmp_path / "m.onnx")
    for name, enc in (("thumb", "thumbnail"), ("onnx", f"onnx:{model}")):
        assert main(["index", str(photos), "-c", str(tmp_path / name), "--size", "16",
                     "--encoder", enc]) == 0
        capsys.readouterr()
        assert main(["query", "--text", "a red car", "-c", str(tmp_path / name)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "has no text tower" in err
