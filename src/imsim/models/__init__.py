"""Models (torch lives here and in :mod:`imsim.embed` only).

* :class:`ConvAutoencoder` built from an :class:`AutoencoderConfig`;
  :func:`fit_autoencoder` is the one-call way to train one on a set of images.
* :class:`Classifier` (the encoder + a dense head), trained by :func:`fit_classifier`;
  :func:`predict` gives int64 classes.
* :func:`train`: the one training loop (:class:`TrainConfig` -> :class:`History`).
* :func:`save_checkpoint` / :func:`load_checkpoint` (-> :class:`Checkpoint`): safetensors
  weights + JSON config.
"""
from .autoencoder import (AutoencoderConfig, ConvAutoencoder, InferenceEncoder, fit_autoencoder,
                          inference_encoder, model_pixels, reconstruct)
from .classifier import (Classifier, ClassifierConfig, classification_scores, fit_classifier,
                         predict, predict_proba)
from .checkpoint import (Checkpoint, load_checkpoint, read_checkpoint_meta, save_checkpoint,
                         update_checkpoint_meta)
from .training import History, TrainConfig, choose_device, random_shift, torch_threads, to_tensor, train

__all__ = [
    "AutoencoderConfig", "ConvAutoencoder", "fit_autoencoder", "reconstruct", "model_pixels",
    "inference_encoder", "InferenceEncoder",
    "Classifier", "ClassifierConfig", "fit_classifier", "predict", "predict_proba",
    "classification_scores",
    "TrainConfig", "History", "train", "to_tensor", "choose_device", "torch_threads",
    "random_shift",
    "Checkpoint", "save_checkpoint", "load_checkpoint", "read_checkpoint_meta", "update_checkpoint_meta",
]
