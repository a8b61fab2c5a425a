import numpy as np
import pytest
import torch

from imsim.models import (AutoencoderConfig, ConvAutoencoder, History, TrainConfig,
                          fit_autoencoder, random_shift, to_tensor, train)
from imsim.models import training
from imsim.models.training import _evaluate, _loss_fn, _split, resolve_precision

TINY = AutoencoderConfig(input_shape=(8, 8, 1), n_layers=2, filters=[8, 16], hidden_dim=64,
                         latent_dim=8)


def blobs(n, size=8, seed=0):
    """Smooth random images: a few Gaussian blobs each, uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size))
    for i in range(n):
        for _ in range(2):
            cy, cx = rng.uniform(0, size, 2)
            out[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / rng.uniform(2, 6))
    return (255 * out / out.max(axis=(1, 2), keepdims=True)).astype(np.uint8)


def initial_loss(model, images):
    model.eval()
    with torch.no_grad():
        x = to_tensor(images)
        return float(torch.nn.functional.mse_loss(model(x), x))


@pytest.mark.slow
def test_tiny_model_overfits_tiny_set():
    images = blobs(16)
    torch.manual_seed(0)
    model = ConvAutoencoder(TINY)
    before = initial_loss(model, images)
    history = train(model, images, images, TrainConfig(epochs=80, batch_size=16, lr=3e-2,
                                                       val_fraction=0), progress=False)
    after = initial_loss(model, images)
    assert after < before / 10, (before, after)
    assert history.val_loss == [None] * 80
    assert history.train_loss[-1] < history.train_loss[0] / 10


@pytest.mark.slow
def test_same_seed_same_weights_other_seed_other_weights():
    images = blobs(40)
    config = TrainConfig(epochs=2, batch_size=8, seed=3)
    a, ha = fit_autoencoder(images, TINY, config, progress=False)
    b, hb = fit_autoencoder(images, TINY, config, progress=False)
    c, _ = fit_autoencoder(images, TINY, TrainConfig(epochs=2, batch_size=8, seed=4), progress=False)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in
               zip(a.state_dict().values(), c.state_dict().values()))
    assert ha.train_loss == hb.train_loss and ha.val_loss == hb.val_loss


@pytest.mark.slow
def test_best_epoch_weights_are_restored():
    images = blobs(50, seed=1)
    config = TrainConfig(epochs=5, batch_size=10, lr=0.05, optimizer="rmsprop",
                         schedule="constant")
    model, history = fit_autoencoder(images, TINY, config, progress=False)
    assert history.best_epoch == 1 + int(np.argmin(history.val_loss))
    _, val_idx = _split(len(images), config.val_fraction, config.seed)
    loss, _ = _evaluate(model, images, images, val_idx, _loss_fn("mse"), torch.device("cpu"))
    assert loss == pytest.approx(history.best_val_loss, rel=1e-5)


@pytest.mark.slow
def test_early_stopping_stops_after_patience_epochs_without_improvement():
    images = blobs(30)
    calls = []

    def loss(out, target):  # validation loss rises every epoch after the first
        calls.append(1)
        return torch.nn.functional.mse_loss(out, target) * 0 + len(calls)

    model = ConvAutoencoder(TINY)
    history = train(model, images, images, TrainConfig(epochs=10, batch_size=30, patience=2),
                    loss=loss, progress=False)
    assert len(history.epochs) == 3 and history.stopped_early and history.best_epoch == 1


@pytest.mark.slow
def test_history_dict_round_trip_and_callback():
    images = blobs(20)
    seen = []
    _, history = fit_autoencoder(images, TINY, TrainConfig(epochs=2, batch_size=8),
                                 progress=False, callback=seen.append)
    assert [r["epoch"] for r in seen] == [1, 2]
    again = History.from_dict(history.to_dict())
    assert again.epochs == history.epochs and again.best_epoch == history.best_epoch
    assert history.seconds > 0


@pytest.mark.slow
def test_classification_targets_and_explicit_validation():
    images = blobs(40)
    labels = (images.reshape(40, -1).argmax(1) % 2).astype(np.int64)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    history = train(model, images, labels, TrainConfig(epochs=2, batch_size=8),
                    loss="cross_entropy", validation=(images[:10], labels[:10]), progress=False)
    model.eval()
    with torch.no_grad():
        predicted = model(to_tensor(images[:10])).argmax(1).numpy()
    assert history.epochs[-1]["val_accuracy"] == pytest.approx(np.mean(predicted == labels[:10]))


def test_random_shift_moves_each_image_within_range():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(20, 1, 7, 7)
    x[:, 0, 3, 3] = 1  # one bright pixel in the middle
    y = random_shift(x, 2, g)
    for img in y[:, 0]:
        (r, c), = torch.nonzero(img).tolist()
        assert abs(r - 3) <= 2 and abs(c - 3) <= 2
    assert len({tuple(torch.nonzero(img)[0].tolist()) for img in y[:, 0]}) > 1
    assert torch.equal(random_shift(x, 0, g), x)


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"), ({"optimizer": "sgd"}, "optimizer"),
    ({"schedule": "step"}, "schedule"), ({"val_fraction": 1.0}, "val_fraction"),
    ({"patience": 0}, "patience"), ({"precision": "float16"}, "precision"),
])
def test_bad_train_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_bad_training_inputs():
    model = ConvAutoencoder(TINY)
    with pytest.raises(TypeError, match="uint8"):
        train(model, np.zeros((4, 8, 8), np.float32), np.zeros((4, 8, 8)), progress=False)
    images = blobs(4)
    with pytest.raises(ValueError, match="4 inputs but 3 targets"):
        train(model, images, images[:3], progress=False)
    with pytest.raises(ValueError, match="no training or no validation"):
        train(model, images[:2], images[:2], TrainConfig(val_fraction=0.1), progress=False)


@pytest.mark.slow
def test_threads_are_restored_after_training(monkeypatch):
    images = blobs(8)
    seen = []
    monkeypatch.setenv("IMSIM_THREADS", "2")
    fit_autoencoder(images, TINY, TrainConfig(epochs=1, batch_size=4), progress=False,
                    callback=lambda r: seen.append(torch.get_num_threads()))
    assert seen == [2] and torch.get_num_threads() == 1  # conftest's setting, restored


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(training, "_cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert resolve_precision("auto", "cpu") == "bfloat16"
    monkeypatch.setattr(training, "_cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    assert resolve_precision("auto") == "bfloat16"
    monkeypatch.setattr(training, "_cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert resolve_precision("auto", "cpu") == "float32"
    assert resolve_precision("bfloat16") == "bfloat16"  # asked for: used, even if emulated
    assert resolve_precision("float32") == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("half")


@pytest.mark.slow
def test_bfloat16_training_learns_as_well_as_float32():
    images = blobs(120, seed=2)
    runs = {}
    for precision in ("float32", "bfloat16"):
        config = TrainConfig(epochs=12, batch_size=16, lr=1e-2, precision=precision)
        model, history = fit_autoencoder(images, TINY, config, progress=False)
        assert {e["precision"] for e in history.epochs} == {precision}
        runs[precision] = history.best_val_loss
        torch.manual_seed(0)
        first = initial_loss(ConvAutoencoder(TINY), images)
        assert history.best_val_loss < first / 3, (precision, first, history.best_val_loss)
    # weights, optimizer and loss stay float32: bfloat16 steps land close to float32's
    assert runs["bfloat16"] <= 1.25 * runs["float32"], runs


@pytest.mark.slow
def test_the_demo_schedule_reconstructs_mnist_below_a_bound(mnist_test):
    """The demo's autoencoder (strided, bfloat16 where fast) on 4,000 MNIST test images,
    3 epochs: validation MSE per pixel well below PCA-10's (0.034 on all of MNIST)."""
    from imsim.evaluation.demo import DemoConfig

    c = DemoConfig.from_preset("default")
    config = AutoencoderConfig(filters=list(c.ae_filters), n_layers=len(c.ae_filters),
                               hidden_dim=c.ae_hidden, latent_dim=c.latent_dim,
                               downsample=c.ae_downsample)
    model, history = fit_autoencoder(mnist_test.images[:4000], config,
                                     TrainConfig(epochs=3, precision=c.precision),
                                     progress=False)
    assert history.best_val_loss < 0.03, history.val_loss
    assert history.val_loss[-1] < history.val_loss[0]
