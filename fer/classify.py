"""Emotion classification of a frame's face crops in one batched, compiled call.

The Keras model is loaded once per process through :mod:`fer.resources` and wrapped in a
``tf.function`` with a fixed input signature (any batch size, 48x48x1 float32). Calling
``model.predict`` per frame costs milliseconds of Python and data-adapter overhead before
any maths; the traced graph is built once and then costs about one op dispatch per call,
which is what lets a 10-face frame classify within a few milliseconds on a CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer import resources
from fer.data import IMAGE_SIZE, NUM_CLASSES
from fer.errors import InputError, ModelLoadError

#: The shipped model, relative to the repository this package lives in.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "emotion_cnn.keras"


@dataclass(frozen=True)
class LoadedModel:
    """A loaded Keras model and its compiled prediction function (shared, thread-safe)."""

    path: Path
    keras_model: object
    predict: object  # tf.function: float32 (N, 48, 48, 1) -> (N, 7)


def _load(path: Path) -> LoadedModel:
    if not path.exists():
        raise ModelLoadError(
            f"{path}: no such model file; train one with `python -m fer.train` or pass --model PATH"
        )
    if path.is_dir() or path.stat().st_size == 0:
        raise ModelLoadError(f"{path}: not a Keras model file ({'a folder' if path.is_dir() else 'empty file'})")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - the serving requirements include both
        raise ModelLoadError(f"{path}: cannot load models without TensorFlow/Keras ({exc})") from None
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for bad files; all mean the same here
        raise ModelLoadError(f"{path}: not a readable Keras model file ({type(exc).__name__}: {exc})") from None
    in_shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    out_shape = tuple(model.output_shape[1:]) if not isinstance(model.output_shape, list) else None
    if in_shape != (IMAGE_SIZE, IMAGE_SIZE, 1) or out_shape != (NUM_CLASSES,):
        raise ModelLoadError(
            f"{path}: model maps {in_shape} to {out_shape}; expected ({IMAGE_SIZE}, {IMAGE_SIZE}, 1) to ({NUM_CLASSES},)"
        )

    @tf.function(
        input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 1], tf.float32)],
        reduce_retracing=True,
    )
    def predict(batch):
        return model(batch, training=False)

    predict.get_concrete_function()  # trace now, inside the lock, not on the first frame
    return LoadedModel(path=path, keras_model=model, predict=predict)


def load_model(path: str | os.PathLike = DEFAULT_MODEL_PATH) -> LoadedModel:
    """The model at ``path``, loaded and compiled once per process; raises ModelLoadError."""
    resolved = Path(path).expanduser().resolve()
    return resources.load_once(resources.file_key("emotion_model", resolved), lambda: _load(resolved))


class EmotionClassifier:
    """Seven-emotion probabilities for a batch of 48x48 gray face crops.

    The model file is read on the first :meth:`predict` (or :meth:`load`) call, not here,
    so creating analysers is free and importing never touches TensorFlow.
    """

    def __init__(self, model_path: str | os.PathLike = DEFAULT_MODEL_PATH) -> None:
        self.model_path = Path(model_path)

    def load(self) -> LoadedModel:
        return load_model(self.model_path)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``crops`` uint8 ``(N, 48, 48)`` -> float32 ``(N, 7)`` in EMOTIONS order."""
        crops = np.asarray(crops)
        if crops.ndim != 3 or crops.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise InputError(f"crops must be (N, {IMAGE_SIZE}, {IMAGE_SIZE}), got {crops.shape}")
        if len(crops) == 0:
            return np.empty((0, NUM_CLASSES), np.float32)
        batch = crops.astype(np.float32)[..., None]
        return np.asarray(self.load().predict(batch), dtype=np.float32)
