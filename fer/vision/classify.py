"""Emotion classification of a frame's face crops in one batched call, by Keras or LiteRT.

Two backends serve the same model contract (float32 ``(N, 48, 48, 1)`` pixel values 0..255
in, ``(N, 7)`` softmax probabilities out), chosen by the file:

* ``.tflite`` (made by ``python -m fer export``) runs on LiteRT (the ``ai-edge-litert``
  package, about 60 MB) so the app serves without TensorFlow, which alone made the Heroku slug
  and the Docker image too big. ``tf.lite`` is used instead only where ``ai_edge_litert`` is
  missing (a training install).
* ``.keras`` runs on Keras/TensorFlow when they are installed (``requirements-train.txt``),
  wrapped in a ``tf.function`` with a fixed input signature (any batch size): calling
  ``model.predict`` per frame costs milliseconds of Python and data-adapter overhead, the
  traced graph about one op dispatch per call. In a serving-only install (no TensorFlow) a
  ``.keras`` path is served from the ``.tflite`` file beside it with the same stem, so the
  default ``models/emotion_cnn.keras`` works in both installs.

The model is loaded once per process through :mod:`fer.resources`. LiteRT interpreters are
not thread-safe, so the app's student threads borrow one from a pool (a new interpreter only
when all are busy). ``invoke`` releases the GIL, so concurrent analyses can run on separate
cores as with one interpreter per thread, yet the number of interpreters (about 16 MB each)
follows the peak number of concurrent analyses (the fer.classroom.governor gate holds it near the core
count), not the number of students: thirty students with one interpreter per thread would
hold about 500 MB. A lock would serialise all analyses on one interpreter. (With 2 threads on
a 2-core machine already busy with training, lock, pool and per-thread interpreters measured
the same within noise: there was no idle core to run in parallel on.) Each interpreter is
resized to the exact batch size when that changes: ``resize_tensor_input`` +
``allocate_tensors`` measured about 0.1 ms, against 0.5-1 ms of inference per face, while
padding to powers of two cost 35 % more per frame and one interpreter per batch size gained
nothing measurable. In the app interpreters run one thread each (``threads=1``): the gate
already runs one analysis per core, and two-thread interpreters on busy cores would only fight
over them. One stream alone (the CLI on a video, the benchmark's frames) leaves a core idle,
so it asks for ``threads=os.cpu_count()``: on 2 cores that halved the time of a 10-face batch
(11.1 -> 5.5 ms).
"""

from __future__ import annotations

import os
import queue
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from fer import resources
from fer.emotions import IMAGE_SIZE, NUM_CLASSES
from fer.errors import InputError, ModelLoadError

#: The shipped model, relative to the repository this package lives in. In a serving-only
#: install it is served from ``emotion_cnn.tflite`` beside it (see the module docstring).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[2] / "models" / "emotion_cnn.keras"

#: Suffix of LiteRT model files, and of the sibling a ``.keras`` path falls back to.
TFLITE_SUFFIX = ".tflite"

#: Larger batches go through LiteRT in chunks of this many faces: an interpreter keeps the
#: memory of the largest batch it has run (a 1024-face batch left 600 MB behind), and faces/s
#: does not grow past a few faces per batch on LiteRT anyway.
MAX_LITERT_BATCH = 64

_TRAIN_INSTALL = "pip install -r requirements-train.txt"


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model and its prediction function (shared by all threads, thread-safe).

    ``path`` is the file actually served (the ``.tflite`` sibling when a ``.keras`` path fell
    back to LiteRT), ``backend`` is ``"keras"`` or ``"litert"``, and ``keras_model`` is the
    Keras model for the Keras backend and ``None`` for LiteRT.
    """

    path: Path
    keras_model: object
    predict: Callable[[np.ndarray], np.ndarray]  # float32 (N, 48, 48, 1) -> (N, 7)
    backend: str = "keras"


def tflite_sibling(path: str | os.PathLike) -> Path:
    """The LiteRT file a Keras model file falls back to: same folder and stem, ``.tflite``."""
    return Path(path).with_suffix(TFLITE_SUFFIX)


#: The model the app serves and ``FrameAnalyzer()`` uses: the LiteRT export of
#: :data:`DEFAULT_MODEL_PATH` (faster than Keras, and no TensorFlow needed).
SERVED_MODEL_PATH = tflite_sibling(DEFAULT_MODEL_PATH)


def _check_file(path: Path, kind: str) -> None:
    if not path.exists():
        raise ModelLoadError(
            f"{path}: no such model file; train one with `python -m fer train` or pass --model PATH"
        )
    if path.is_dir() or path.stat().st_size == 0:
        raise ModelLoadError(f"{path}: not a {kind} model file ({'a folder' if path.is_dir() else 'empty file'})")


def _check_contract(path: Path, in_shape, out_shape) -> None:
    if in_shape != (IMAGE_SIZE, IMAGE_SIZE, 1) or out_shape != (NUM_CLASSES,):
        raise ModelLoadError(
            f"{path}: model maps {in_shape} to {out_shape}; expected ({IMAGE_SIZE}, {IMAGE_SIZE}, 1) to ({NUM_CLASSES},)"
        )


def _check_batch(batch) -> np.ndarray:
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    if batch.ndim != 4 or batch.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 1):
        raise InputError(f"batch must be (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 1) float32, got {batch.shape}")
    return batch


# --- LiteRT backend -----------------------------------------------------------------------


def interpreter_class(path: Path):
    """LiteRT's Interpreter; TensorFlow's deprecated copy only where ai_edge_litert is missing."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError as litert_missing:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            import tensorflow as tf
        except ImportError:
            raise ModelLoadError(
                f"{path}: serving a .tflite model needs the ai-edge-litert package "
                f"(pip install -r requirements.txt): {litert_missing}"
            ) from None

        def tf_interpreter(**kwargs):
            with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated": we know
                warnings.simplefilter("ignore")
                return tf.lite.Interpreter(**kwargs)

        return tf_interpreter


class InterpreterSlot:
    """One LiteRT interpreter, resized to the input shape of its last call (also used by
    :mod:`fer.vision.yunet`, whose frames come in any size)."""

    def __init__(self, interpreter) -> None:
        self.interpreter = interpreter
        self.input = interpreter.get_input_details()[0]["index"]
        self.outputs = [d["index"] for d in interpreter.get_output_details()]
        self.shape: tuple | None = None

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output of the model for ``batch``, in the model's output order."""
        if batch.shape != self.shape:
            self.shape = None  # a failed resize must not leave a stale size behind
            self.interpreter.resize_tensor_input(self.input, list(batch.shape), strict=False)
            self.interpreter.allocate_tensors()
            self.shape = batch.shape
        self.interpreter.set_tensor(self.input, batch)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(i) for i in self.outputs]  # copies: safe after the slot is reused


class LiteRTPredictor:
    """A thread-safe ``predict`` over LiteRT interpreters of one ``.tflite`` model.

    ``content`` is the flatbuffer (read once; every interpreter shares it); ``source`` names it
    in error messages. Checks the model contract on creation and raises ModelLoadError.
    """

    def __init__(self, content: bytes, source: str | os.PathLike = "<tflite>", num_threads: int = 1) -> None:
        self.source = Path(source)
        self._content = bytes(content)
        self._num_threads = num_threads
        self._make = interpreter_class(self.source)
        self._idle: queue.SimpleQueue[InterpreterSlot] = queue.SimpleQueue()
        self._count_lock = threading.Lock()
        self.interpreters = 0  # created so far: the peak number of concurrent predictions
        first = self._new_slot()
        self._check_contract(first)
        self._idle.put(first)

    def _new_slot(self) -> InterpreterSlot:
        try:
            interpreter = self._make(model_content=self._content, num_threads=self._num_threads)
            interpreter.allocate_tensors()
            slot = InterpreterSlot(interpreter)
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError for bad files and unsupported ops
            raise ModelLoadError(
                f"{self.source}: not a readable LiteRT model file ({type(exc).__name__}: {str(exc).strip()}); "
                "export one with `python -m fer export`"
            ) from None
        with self._count_lock:
            self.interpreters += 1
        return slot

    def _check_contract(self, slot: InterpreterSlot) -> None:
        inputs, outputs = slot.interpreter.get_input_details(), slot.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f"{self.source}: model has {len(inputs)} inputs and {len(outputs)} outputs; expected 1 and 1")
        _check_contract(self.source, tuple(int(d) for d in inputs[0]["shape"][1:]),
                        tuple(int(d) for d in outputs[0]["shape"][1:]))
        for role, detail in (("input", inputs[0]), ("output", outputs[0])):
            if np.dtype(detail["dtype"]) != np.float32:
                raise ModelLoadError(f"{self.source}: {role} is {np.dtype(detail['dtype'])}; expected float32")

    def __call__(self, batch) -> np.ndarray:
        batch = _check_batch(batch)
        if len(batch) == 0:
            return np.empty((0, NUM_CLASSES), np.float32)
        try:
            slot = self._idle.get_nowait()
        except queue.Empty:
            slot = self._new_slot()
        # A slot whose call failed is dropped, not returned: its state is unknown.
        if len(batch) <= MAX_LITERT_BATCH:
            probs = slot.run(batch)[0]
        else:
            probs = np.concatenate([slot.run(batch[i : i + MAX_LITERT_BATCH])[0]
                                    for i in range(0, len(batch), MAX_LITERT_BATCH)])
        self._idle.put(slot)
        return probs


def _load_litert(path: Path, threads: int = 1) -> LoadedModel:
    _check_file(path, "LiteRT")
    predictor = LiteRTPredictor(path.read_bytes(), source=path, num_threads=threads)
    return LoadedModel(path=path, keras_model=None, predict=predictor, backend="litert")


# --- Keras backend ------------------------------------------------------------------------


def _import_keras():
    """``(keras, tensorflow)``, or None where they are not installed (a serving-only install)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow as tf
    except ImportError:
        return None
    return keras, tf


def _load_keras(path: Path, keras, tf) -> LoadedModel:
    _check_file(path, "Keras")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for bad files; all mean the same here
        raise ModelLoadError(f"{path}: not a readable Keras model file ({type(exc).__name__}: {exc})") from None
    in_shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    out_shape = tuple(model.output_shape[1:]) if not isinstance(model.output_shape, list) else None
    _check_contract(path, in_shape, out_shape)

    @tf.function(
        input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 1], tf.float32)],
        reduce_retracing=True,
    )
    def predict(batch):
        return model(batch, training=False)

    predict.get_concrete_function()  # trace now, inside the lock, not on the first frame
    return LoadedModel(path=path, keras_model=model, predict=predict, backend="keras")


def _load(path: Path, threads: int = 1) -> LoadedModel:
    if path.suffix.lower() == TFLITE_SUFFIX:
        return _load_litert(path, threads)
    modules = _import_keras()
    if modules is not None:
        return _load_keras(path, *modules)
    sibling = tflite_sibling(path)
    if sibling.is_file():
        return _load_litert(sibling, threads)
    _check_file(path, "Keras")
    raise ModelLoadError(
        f"{path}: TensorFlow/Keras is not installed, so a .keras model cannot be served here; "
        f"export {sibling.name} beside it with `python -m fer export` (needs {_TRAIN_INSTALL}) "
        f"or install TensorFlow with `{_TRAIN_INSTALL}`"
    )


def load_model(path: str | os.PathLike = DEFAULT_MODEL_PATH, threads: int = 1) -> LoadedModel:
    """The model at ``path``, loaded and compiled once per process; raises ModelLoadError.

    ``.tflite`` is served by LiteRT; ``.keras`` by Keras when TensorFlow is installed and
    otherwise by LiteRT from its ``.tflite`` sibling. ``threads`` is the number of threads of
    each LiteRT interpreter (see the module docstring); Keras ignores it.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    resolved = Path(path).expanduser().resolve()
    key = resources.file_key("emotion_model", resolved)
    if resolved.suffix.lower() != TFLITE_SUFFIX:  # a re-exported sibling is a new model too
        key = (key, resources.file_key("emotion_model_tflite", tflite_sibling(resolved)))
    return resources.load_once((key, threads), lambda: _load(resolved, threads))


class EmotionClassifier:
    """Seven-emotion probabilities for a batch of 48x48 gray face crops.

    The model file is read on the first :meth:`predict` (or :meth:`load`) call, not here,
    so creating analyzers is free and importing never touches TensorFlow or LiteRT.
    """

    def __init__(self, model_path: str | os.PathLike = DEFAULT_MODEL_PATH, threads: int = 1) -> None:
        self.model_path = Path(model_path)
        self.threads = threads

    def load(self) -> LoadedModel:
        return load_model(self.model_path, self.threads)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """``crops`` uint8 ``(N, 48, 48)`` -> float32 ``(N, 7)`` in EMOTIONS order."""
        crops = np.asarray(crops)
        if crops.ndim != 3 or crops.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise InputError(f"crops must be (N, {IMAGE_SIZE}, {IMAGE_SIZE}), got {crops.shape}")
        if len(crops) == 0:
            return np.empty((0, NUM_CLASSES), np.float32)
        batch = crops.astype(np.float32)[..., None]
        return np.asarray(self.load().predict(batch), dtype=np.float32)
