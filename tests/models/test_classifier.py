import numpy as np
import pytest
import torch

from imsim.models import (AutoencoderConfig, Classifier, ClassifierConfig, ConvAutoencoder,
                          TrainConfig, fit_classifier, load_checkpoint, predict, predict_proba,
                          save_checkpoint, train)

AE = AutoencoderConfig(input_shape=(8, 8, 1), n_layers=2, filters=[4, 8], hidden_dim=16,
                       latent_dim=3)


@pytest.mark.slow
def test_classifier_overfits_tiny_set_and_loads_back_identically(tmp_path, bars):
    images, labels = bars(48)
    torch.manual_seed(0)
    ae = ConvAutoencoder(AE)
    model, history = fit_classifier(
        ae, images, labels, fc_units=32, dropout=0.0, head_epochs=2,
        train_config=TrainConfig(epochs=25, batch_size=16, lr=1e-2, val_fraction=0),
        progress=False)
    assert (predict(model, images) == labels).all()
    assert [r["phase"] for r in history.epochs] == [1] * 2 + [2] * 25
    assert [r["epoch"] for r in history.epochs] == list(range(1, 28))
    assert history.best_epoch > 2
    save_checkpoint(tmp_path, model, history=history)
    checkpoint = load_checkpoint(tmp_path, architecture="Classifier", expect_input_shape=(8, 8))
    loaded = checkpoint.model
    assert isinstance(loaded, Classifier) and loaded.config == model.config
    np.testing.assert_array_equal(predict_proba(loaded, images), predict_proba(model, images))
    assert checkpoint.history.epochs == history.epochs and checkpoint.latent_scale is None


@pytest.mark.slow
def test_features_start_from_the_autoencoder_and_freeze(bars):
    images, labels = bars(32)
    torch.manual_seed(0)
    ae = ConvAutoencoder(AE)
    for m in ae.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
    model = Classifier(ClassifierConfig(autoencoder=AE, n_classes=3, fc_units=[8, 8]))
    model.load_encoder(ae)
    enc_state = ae.encoder.state_dict()
    for k, v in model.features.state_dict().items():
        assert torch.equal(v, enc_state[k]), k
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.freeze_features(True)
    train(model, images, labels, TrainConfig(epochs=2, batch_size=8), loss="cross_entropy",
          progress=False)
    after = model.state_dict()
    for k in before:  # weights and BatchNorm statistics of the features stay put
        assert torch.equal(before[k], after[k]) == k.startswith("features."), k


def test_classifier_head_layout():
    model = Classifier(ClassifierConfig(autoencoder=AE, n_classes=4, fc_units=[16, 8],
                                        dropout=0.2))
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8 * 2 * 2, 16), (16, 8), (8, 4)]
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 4)


def test_bad_classifier_inputs(bars):
    images, labels = bars(10)
    ae = ConvAutoencoder(AE)
    with pytest.raises(ValueError, match="labels must be integers of shape"):
        fit_classifier(ae, images, labels[:5], progress=False)
    with pytest.raises(ValueError, match="out of range for 2 classes"):
        fit_classifier(ae, images, labels, n_classes=2, progress=False)
    with pytest.raises(ValueError, match="expects 8x8x1 images, got 28x28x1"):
        fit_classifier(ae, np.zeros((4, 28, 28), np.uint8), np.zeros(4, int), progress=False)
    with pytest.raises(ValueError, match="fc_units"):
        ClassifierConfig(fc_units=0)
    other = ConvAutoencoder(AutoencoderConfig(input_shape=(8, 8, 1), n_layers=2, filters=[4, 4]))
    with pytest.raises(ValueError, match="architecture differs"):
        Classifier(ClassifierConfig(autoencoder=AE)).load_encoder(other)


def test_classification_scores_match_scikit_learn():
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from imsim.models import classification_scores

    rng = np.random.default_rng(0)
    true = rng.integers(0, 4, 200)
    predicted = np.where(rng.random(200) < 0.7, true, rng.integers(0, 4, 200))
    predicted[predicted == 3] = 2  # class 3 is never predicted: precision 0 by convention
    s = classification_scores(true, predicted, 5)  # class 4 has no images at all
    p, r, f, support = precision_recall_fscore_support(true, predicted, labels=range(5),
                                                       zero_division=0)
    np.testing.assert_allclose([c["precision"] for c in s["per_class"]], p)
    np.testing.assert_allclose([c["recall"] for c in s["per_class"]], r)
    np.testing.assert_allclose([c["f1"] for c in s["per_class"]], f)
    assert [c["support"] for c in s["per_class"]] == list(support)
    np.testing.assert_array_equal(s["confusion"], confusion_matrix(true, predicted, labels=range(5)))
    assert s["accuracy"] == np.mean(true == predicted) and s["n_correct"] + s["n_incorrect"] == 200
