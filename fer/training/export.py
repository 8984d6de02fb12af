"""Convert the shipped Keras model to a LiteRT file, so the app serves without TensorFlow.

    python -m fer export [--model models/emotion_cnn.keras] [--out models/emotion_cnn.tflite] [--float32]

Why: serving needs only the network's forward pass, but Keras needs TensorFlow, and
TensorFlow (with Keras and the TF-based MTCNN detector) made a clean ``pip install -r
requirements.txt`` plus the app a 578 MB compressed Heroku slug (the limit is 500 MB) and a
2.5 GB Docker image. The LiteRT runtime (``ai-edge-litert``, about 60 MB installed) runs the
same network from a ``.tflite`` file; with TensorFlow, Keras and MTCNN moved to
``requirements-train.txt`` the slug measured about 292 MB. :mod:`fer.vision.classify` serves a
``.tflite`` path with LiteRT, and a ``.keras`` path from its ``.tflite`` sibling wherever
TensorFlow is not installed, so run this again whenever ``models/emotion_cnn.keras`` changes
(``tests/test_export.py`` fails while the committed pair disagree).

How: Keras 3 ``model.export(dir, format="tf_saved_model")``, then
``tf.lite.TFLiteConverter.from_saved_model(dir)`` with built-in ops only (the plain LiteRT
runtime has no TensorFlow "Flex" ops). Converting from concrete functions gave NaNs. The batch
dimension stays dynamic, so one file serves any number of faces. Works for any functional
model under the contract, including the ensemble of :mod:`fer.training.ensemble` (nested functional
members, a frozen ``Dense`` mirror, an ``Average`` layer).

Quantisation: by default the weights are stored as int8 with float activations (LiteRT's
dynamic-range quantisation). Why: the shipped model is four networks, and on two CPU cores
the int8 file classifies 800-890 faces/s against 240 for float32, in a quarter of the bytes,
while on PublicTest it agrees with Keras on 99.7 % of the labels and scores 69.96 % against
69.99 % (measured once, before choosing it). ``--float32`` writes the exact file instead
(Keras outputs to about 1e-7).

Verification: before anything is written, random 0..255 faces in batches of 1, 3, 10 and 64
(plus all-black, mid-gray and all-white faces) go through both the Keras serving path and the
LiteRT serving path of :mod:`fer.vision.classify`; the largest absolute difference in probability is
printed, and over the tolerance (1e-5 for float32, 0.05 for int8 weights; ``--tolerance``)
nothing is written and the exit code is 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from fer.emotions import IMAGE_SIZE
from fer.errors import FerError
from fer.vision.classify import DEFAULT_MODEL_PATH, LiteRTPredictor, tflite_sibling

#: Largest allowed |LiteRT - Keras| in any probability, for the exact float32 file...
TOLERANCE = 1e-5
#: ... and for int8 weights (seen: 0.002 on the verification batches, 0.02 on real faces).
QUANTIZED_TOLERANCE = 0.05
#: Batch sizes verified: one face, a few, a classroom frame and an evaluation batch.
BATCH_SIZES = (1, 3, 10, 64)


class ExportError(FerError):
    """The model could not be converted, or the converted file does not match Keras."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size_bytes: int
    max_abs_diff: float
    batch_sizes: tuple[int, ...]
    quantized: bool
    tolerance: float


def _tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:
        raise ExportError(f"exporting needs TensorFlow and Keras (pip install -r requirements-train.txt): {exc}") from None
    return keras, tf


def convert(model, quantize: bool = True) -> bytes:
    """The ``.tflite`` flatbuffer of a Keras model (built-in ops, dynamic batch), int8 weights or float32."""
    _, tf = _tensorflow()
    with tempfile.TemporaryDirectory(prefix="classmood-export-") as saved_model:
        try:
            model.export(saved_model, format="tf_saved_model", verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            converter.optimizations = [tf.lite.Optimize.DEFAULT] if quantize else []
            return bytes(converter.convert())
        except Exception as exc:  # the converter raises ConverterError, ValueError, ...
            raise ExportError(f"could not convert {model.name!r} to LiteRT ({type(exc).__name__}: {exc})") from None


def verification_batches(batch_sizes: Sequence[int] = BATCH_SIZES, seed: int = 0) -> list[np.ndarray]:
    """Random 0..255 faces in each batch size, and one batch of constant faces (0, 128, 255)."""
    rng = np.random.default_rng(seed)
    batches = [rng.uniform(0, 255, (n, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32) for n in batch_sizes]
    batches.append(np.stack([np.full((IMAGE_SIZE, IMAGE_SIZE, 1), v, np.float32) for v in (0.0, 128.0, 255.0)]))
    return batches


def max_difference(reference, litert, batches: Sequence[np.ndarray]) -> float:
    """Largest |reference - litert| over all batches (inf where LiteRT gives non-finite output)."""
    worst = 0.0
    for batch in batches:
        expected = np.asarray(reference(batch), np.float32)
        got = np.asarray(litert(batch), np.float32)
        if got.shape != expected.shape or not np.all(np.isfinite(got)):
            return float("inf")
        worst = max(worst, float(np.max(np.abs(got - expected))))
    return worst


def export(model_path: str | os.PathLike = DEFAULT_MODEL_PATH, out: str | os.PathLike | None = None,
           tolerance: float | None = None, batch_sizes: Sequence[int] = BATCH_SIZES,
           quantize: bool = True) -> ExportResult:
    """Convert ``model_path`` to ``out`` (default: its ``.tflite`` sibling), verified first.

    Raises ModelLoadError for an unreadable model and ExportError when conversion fails or
    the outputs differ by more than ``tolerance``; ``out`` is then left as it was.
    """
    keras, tf = _tensorflow()
    from fer.vision.classify import _load_keras  # the Keras serving path: same checks, same tf.function

    model_path = Path(model_path)
    out = Path(out) if out is not None else tflite_sibling(model_path)
    if out.suffix.lower() != ".tflite":
        raise ExportError(f"{out}: the output must end in .tflite (fer.vision.classify picks the backend by suffix)")
    if tolerance is None:
        tolerance = QUANTIZED_TOLERANCE if quantize else TOLERANCE
    served = _load_keras(model_path, keras, tf)
    content = convert(served.keras_model, quantize=quantize)
    litert = LiteRTPredictor(content, source=out)
    diff = max_difference(served.predict, litert, verification_batches(batch_sizes))
    if not diff <= tolerance:
        raise ExportError(
            f"{model_path}: LiteRT output differs from Keras by up to {diff:.3g} (tolerance {tolerance:g}); "
            f"{out} was not written"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(content)
    os.replace(partial, out)  # a running app never reads half a file
    return ExportResult(out, len(content), diff, tuple(batch_sizes), quantize, tolerance)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer export", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="Keras model file (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="LiteRT file to write (default: the model's .tflite sibling)")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights (exact, 3x slower to serve)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help=f"largest allowed |LiteRT - Keras| (default: {QUANTIZED_TOLERANCE:g}, {TOLERANCE:g} with --float32)")
    args = parser.parse_args(argv)
    try:
        result = export(args.model, args.out, args.tolerance, quantize=not args.float32)
    except FerError as exc:
        print(f"fer.training.export: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {result.path} ({result.size_bytes / 1e6:.1f} MB, {'int8 weights' if result.quantized else 'float32'}); "
        f"LiteRT vs Keras max |diff| {result.max_abs_diff:.2e} over batches {', '.join(map(str, result.batch_sizes))} "
        f"and constant faces (tolerance {result.tolerance:g})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
