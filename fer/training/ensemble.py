"""Combine trained emotion CNNs (and their mirror images) into one shipped model file.

Why: on two CPU cores one training run of the shipped architecture takes over an hour, and a
single run tops out near 68 % on PrivateTest. Averaging the logits of independently trained
runs, each also shown the horizontally mirrored face, is the cheapest reliable gain left:
different seeds make different mistakes, and FER-2013 faces are close to left-right symmetric.

The result keeps the serving contract of :mod:`fer.training.model` (float32 ``(N,48,48,1)`` 0..255 in,
``(N,7)`` softmax out, built-in layers only, loads with ``compile=False`` and no custom
objects), so everything downstream (serving, evaluation, the app) uses it unchanged. The
mirror is a fixed width-reversing ``Dense`` (a permutation matrix, exact in float32) rather
than a ``Lambda`` so the file stays loadable in Keras' safe mode.

    python -m fer ensemble runs/emotion_cnn/best.keras runs/emotion_cnn_seed2/best.keras \\
        --mirror --out runs/ensemble/emotion_cnn.keras --ship

Members and the mirror option are chosen on PublicTest (``--compare`` prints every
combination); the temperature is fitted on PublicTest; PrivateTest stays for ``fer.training.evaluate``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer.emotions import EMOTIONS, IMAGE_SIZE, NUM_CLASSES
from fer.errors import FerError, ModelLoadError
from fer.training.data import default_dataset_path, load_fer2013

LOGITS_LAYER = "logits"


@dataclass(frozen=True)
class EnsembleChoice:
    """Which members and whether mirrored views go into the shipped file, with its PublicTest score."""

    members: tuple[int, ...]
    mirror: bool
    public_test_accuracy: float

    @property
    def forward_passes(self) -> int:
        """Network evaluations per face: the CPU cost relative to a single model."""
        return len(self.members) * (2 if self.mirror else 1)


def load_member(path: Path):
    """A trained model file, checked to have the ``logits`` layer the ensemble averages."""
    import keras

    if not Path(path).is_file():
        raise ModelLoadError(f"{path}: no such model file")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise ModelLoadError(f"{path}: not a readable Keras model file ({type(exc).__name__}: {exc})") from None
    names = {layer.name for layer in model.layers}
    if LOGITS_LAYER not in names:
        raise ModelLoadError(f"{path}: has no '{LOGITS_LAYER}' layer; members must be built by fer.training.model")
    return model


def _logits_model(model, index: int):
    import keras

    return keras.Model(model.inputs, model.get_layer(LOGITS_LAYER).output, name=f"member{index}")


def mirror_layer(name: str = "mirror"):
    """A frozen Dense that reverses the width axis of a ``(48, 48)`` image: a left-right flip."""
    from keras import layers

    layer = layers.Dense(IMAGE_SIZE, use_bias=False, trainable=False, name=name)
    layer.build((None, IMAGE_SIZE, IMAGE_SIZE))
    layer.set_weights([np.eye(IMAGE_SIZE, dtype=np.float32)[::-1].copy()])
    return layer


def mean_logits_model(members, mirror: bool = True, name: str = "mean_logits"):
    """The members' logits averaged over (optionally) both mirror views, as one Keras model.

    Shared by :func:`build_ensemble` (which adds the temperature and softmax) and by
    distillation in :mod:`fer.training.train` (teachers give logits to soften at their own temperature).
    """
    import keras

    inputs, mean = _mean_logits(members, mirror)
    return keras.Model(inputs, mean, name=name)


def _mean_logits(members, mirror: bool):
    import keras
    from keras import layers

    if not members:
        raise ValueError("an ensemble needs at least one member")
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face_gray_0_255")
    views = [inputs]
    if mirror:
        flat = layers.Reshape((IMAGE_SIZE, IMAGE_SIZE), name="to_2d")(inputs)
        flipped = mirror_layer()(flat)
        views.append(layers.Reshape((IMAGE_SIZE, IMAGE_SIZE, 1), name="mirrored")(flipped))
    heads = [_logits_model(member, i) for i, member in enumerate(members)]
    logits = [head(view) for head in heads for view in views]
    mean = logits[0] if len(logits) == 1 else layers.Average(name="mean_logits")(logits)
    return inputs, mean


def build_ensemble(members, mirror: bool = True, temperature: float = 1.0, name: str = "emotion_cnn"):
    """One functional model averaging the members' logits over (optionally) both mirror views."""
    import keras
    from keras import layers

    inputs, mean = _mean_logits(members, mirror)
    scaled = layers.Rescaling(1.0 / temperature, name="temperature", dtype="float32")(mean)
    outputs = layers.Activation("softmax", name="probs", dtype="float32")(scaled)
    return keras.Model(inputs, outputs, name=name)


def member_logits(members, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits of every member on plain and mirrored images: shape ``(members, 2, N, 7)``."""
    x = images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1).astype(np.float32)
    out = np.empty((len(members), 2, len(x), NUM_CLASSES), np.float32)
    for i, member in enumerate(members):
        head = _logits_model(member, i)
        out[i, 0] = head.predict(x, batch_size=batch_size, verbose=0)
        out[i, 1] = head.predict(x[:, :, ::-1], batch_size=batch_size, verbose=0)
    return out


def combined_logits(logits: np.ndarray, members: tuple[int, ...], mirror: bool) -> np.ndarray:
    views = [0, 1] if mirror else [0]
    return logits[list(members)][:, views].mean(axis=(0, 1))


def compare(logits: np.ndarray, labels: np.ndarray) -> list[EnsembleChoice]:
    """Every subset of members, with and without the mirror, scored on the given labels."""
    choices = []
    for k in range(1, logits.shape[0] + 1):
        for members in itertools.combinations(range(logits.shape[0]), k):
            for mirror in (False, True):
                pred = combined_logits(logits, members, mirror).argmax(1)
                choices.append(EnsembleChoice(members, mirror, float((pred == labels).mean())))
    return choices


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _member_name(path: Path) -> str:
    """``runs/seed2/best.keras`` reads as ``seed2``, ``runs/gpu/teacher1.keras`` as ``teacher1``."""
    return path.parent.name if path.stem in ("best", "emotion_cnn", "checkpoint") else path.stem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer ensemble", description=__doc__.split("\n")[0])
    parser.add_argument("members", nargs="+", type=Path, help="trained model files (e.g. runs/*/best.keras)")
    parser.add_argument("--data", default="", help="FER-2013 (default: $FER2013_PATH or ../shared/datasets/fer2013.zip)")
    parser.add_argument("--mirror", action="store_true", help="also average each member over the mirrored face")
    parser.add_argument("--compare", action="store_true", help="print PublicTest accuracy of every combination")
    parser.add_argument("--out", type=Path, default=Path("runs/ensemble/emotion_cnn.keras"))
    parser.add_argument("--ship", action="store_true", help="copy the result to models/emotion_cnn.keras")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras

    from fer.training.metrics import expected_calibration_error, fit_temperature
    from fer.vision.classify import DEFAULT_MODEL_PATH

    data = args.data or default_dataset_path()
    if not data:
        parser.exit(2, "error: FER-2013 not found: pass --data or set FER2013_PATH\n")
    try:
        members = [load_member(p) for p in args.members]
        val = load_fer2013(data)["PublicTest"]
    except FerError as exc:
        parser.exit(2, f"error: {exc}\n")
    logits = member_logits(members, val.images)
    if args.compare:
        print(f"{'members':<24}{'mirror':<8}{'passes':>7}{'PublicTest':>12}")
        for choice in compare(logits, val.labels):
            names = "+".join(_member_name(args.members[i]) for i in choice.members)
            print(f"{names:<24}{str(choice.mirror):<8}{choice.forward_passes:>7}{choice.public_test_accuracy:>12.4f}")

    chosen = tuple(range(len(members)))
    raw = softmax(combined_logits(logits, chosen, args.mirror))
    temperature = fit_temperature(raw, val.labels)
    model = build_ensemble(members, mirror=args.mirror, temperature=temperature)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    reloaded = keras.models.load_model(args.out, compile=False)
    probs = reloaded.predict(val.images[..., None].astype(np.float32), batch_size=512, verbose=0)
    info = {
        "members": [str(p) for p in args.members],
        "mirror": args.mirror,
        "forward_passes_per_face": len(members) * (2 if args.mirror else 1),
        "temperature": temperature,
        "public_test_accuracy": float((probs.argmax(1) == val.labels).mean()),
        "public_test_ece_before": expected_calibration_error(raw, val.labels),
        "public_test_ece_after": expected_calibration_error(probs, val.labels),
        "parameters": int(reloaded.count_params()),
        "labels": list(EMOTIONS),
    }
    (args.out.parent / "ensemble.json").write_text(json.dumps(info, indent=1))
    print(f"{len(members)} member(s), mirror={args.mirror}: PublicTest {info['public_test_accuracy']:.4f}, "
          f"temperature {temperature:.3f}, ECE {info['public_test_ece_before']:.4f} -> "
          f"{info['public_test_ece_after']:.4f}; wrote {args.out}")
    if args.ship:
        DEFAULT_MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out, DEFAULT_MODEL_PATH)
        from fer.training.export import export

        exported = export(DEFAULT_MODEL_PATH)  # the app serves this LiteRT copy
        print(f"shipped to {DEFAULT_MODEL_PATH} and {exported.path} (LiteRT, max difference {exported.max_abs_diff:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
